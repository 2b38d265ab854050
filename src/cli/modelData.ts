import type { ImageDataset } from '../data/dataset.js';
import type { ImageClassifier } from '../models/classifier.js';
import { isRunFolder } from '../models/load.js';
import { readManifest } from '../models/runFolder.js';

/** A clear error when a data set's images or classes do not fit the model. */
export function checkDatasetFits(model: ImageClassifier, ds: ImageDataset): void {
  const want = model.config.inputShape.join('x');
  const got = ds.imageShape.join('x');
  if (want !== got) throw new Error(`the model expects ${want} images, ${ds.name} ${ds.split} has ${got}`);
  if (model.numClasses !== ds.classNames.length) {
    throw new Error(`the model has ${model.numClasses} classes, ${ds.name} has ${ds.classNames.length}`);
  }
}

/** The data set a run folder's model was trained on (undefined for TorchScript files). */
export function datasetOf(modelPath: string): string | undefined {
  if (!isRunFolder(modelPath)) return undefined;
  return readManifest(modelPath).dataset as string | undefined;
}

export const TORCHSCRIPT_HELP = {
  featuresLayer: 'TorchScript files whose forward returns logits only: the submodule whose output is the features',
  classifierParam: 'TorchScript files: name of the classifier weight (default: the last 2-d [classes, features] parameter)',
};
