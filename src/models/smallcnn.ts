// A small, fast CNN for 28x28 inputs (Fashion-MNIST): two conv-conv-pool stages, one hidden
// fully connected layer whose ReLU output is the feature vector, then the classifier.
import type { Tensor } from '../tensor/tensor.js';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential, Flatten, type InitOptions } from '../nn/layers.js';
import * as F from '../nn/functional.js';
import { ImageClassifier, scaled, type ModelConfig } from './classifier.js';

export class SmallCNN extends ImageClassifier {
  readonly features: Sequential;
  readonly fc: Linear;
  readonly classifier: Linear;

  constructor(config: ModelConfig, init: InitOptions = {}) {
    super(config);
    const [c, h, w] = config.inputShape;
    if (h < 4 || w < 4) throw new Error(`small-cnn needs inputs of at least 4x4, got ${h}x${w}`);
    const g = init.generator;
    const c1 = scaled(32, this.config.width);
    const c2 = scaled(64, this.config.width);
    const hidden = scaled(256, this.config.width);
    const block = (i: number, o: number) => [new Conv2d(i, o, 3, { padding: 1, generator: g }), new BatchNorm2d(o), new ReLU()];
    this.features = this.registerModule('features', new Sequential(
      ...block(c, c1), ...block(c1, c1), new MaxPool2d(2),
      ...block(c1, c2), ...block(c2, c2), new MaxPool2d(2),
      new Flatten(),
    ));
    const flat = c2 * Math.floor(Math.floor(h / 2) / 2) * Math.floor(Math.floor(w / 2) / 2);
    this.fc = this.registerModule('fc', new Linear(flat, hidden, { generator: g }));
    this.classifier = this.registerModule('classifier', new Linear(hidden, config.numClasses, { generator: g }));
  }

  protected embed(x: Tensor, fakeRelu: boolean): Tensor {
    const f = this.features.forward(x);
    const z = this.fc.forward(f);
    f.dispose();
    const out = fakeRelu ? F.fakeRelu(z) : z.relu();
    z.dispose();
    return out;
  }
}

