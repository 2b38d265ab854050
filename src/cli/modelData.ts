import type { ImageDataset } from '../data/dataset.js';
import type { ImageClassifier } from '../models/classifier.js';

/** A clear error when a data set's images or classes do not fit the model. */
export function checkDatasetFits(model: ImageClassifier, ds: ImageDataset): void {
  const want = model.config.inputShape.join('x');
  const got = ds.imageShape.join('x');
  if (want !== got) throw new Error(`the model expects ${want} images, ${ds.name} ${ds.split} has ${got}`);
  if (model.numClasses !== ds.classNames.length) {
    throw new Error(`the model has ${model.numClasses} classes, ${ds.name} has ${ds.classNames.length}`);
  }
}
