// A small, fast CNN for 28x28 inputs (Fashion-MNIST): two conv-conv-pool stages, one hidden
// fully connected layer whose ReLU output is the feature vector, then the classifier.
import type { Tensor } from '../tensor/tensor.js';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential, Flatten, type InitOptions } from '../nn/layers.js';
import * as F from '../nn/functional.js';
import type { LocalPlan } from '../nn/localForward.js';
import { ImageClassifier, scaled, type LayerSplit, type ModelConfig } from './classifier.js';

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
    const bn = config.batchNorm ?? true;
    const block = (i: number, o: number) => [
      new Conv2d(i, o, 3, { padding: 1, generator: g }),
      ...(bn ? [new BatchNorm2d(o)] : []),
      new ReLU(),
    ];
    this.features = this.registerModule(
      'features',
      new Sequential(
        ...block(c, c1),
        ...block(c1, c1),
        new MaxPool2d(2),
        ...block(c1, c2),
        ...block(c2, c2),
        new MaxPool2d(2),
        new Flatten(),
      ),
    );
    const flat = c2 * Math.floor(Math.floor(h / 2) / 2) * Math.floor(Math.floor(w / 2) / 2);
    this.fc = this.registerModule('fc', new Linear(flat, hidden, { generator: g }));
    this.classifier = this.registerModule('classifier', new Linear(hidden, config.numClasses, { generator: g }));
  }

  override localPlan(): LocalPlan {
    return {
      normalize: (x) => this.normalize(x),
      layers: this.features.layers.filter((l) => !(l instanceof Flatten)),
      tail: (h) => this.classifier.forward(this.fc.forward(h.flatten(1)).relu()),
    };
  }

  override layerNames(): string[] {
    return [...this.features.layers.map((_, i) => `features.${i}`), 'fc', 'penultimate'];
  }

  override splitAt(layer: string): LayerSplit {
    const m = /^features\.(\d+)$/.exec(layer);
    const fromFc = (h: Tensor) => this.classifier.forward(this.fc.forward(h).relu());
    if (m && Number(m[1]) < this.features.layers.length) {
      const k = Number(m[1]);
      const run = (x: Tensor, from: number, to: number) => this.features.layers.slice(from, to).reduce((h, l) => l.forward(h), x);
      const kind = this.features.layers[k]!;
      return {
        layer,
        nonNegative: kind instanceof ReLU || kind instanceof MaxPool2d || kind instanceof Flatten,
        head: (x) => run(this.normalize(x), 0, k + 1),
        tail: (a) => fromFc(run(a, k + 1, this.features.layers.length)),
      };
    }
    if (layer === 'fc') {
      return {
        layer,
        nonNegative: false,
        head: (x) => this.fc.forward(this.features.forward(this.normalize(x))),
        tail: (a) => this.classifier.forward(a.relu()),
      };
    }
    return super.splitAt(layer);
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
