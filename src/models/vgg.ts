// VGG with batch norm in the CIFAR layout of the reference's library (robustness):
// features = [conv3x3-BN-ReLU | maxpool]..., AvgPool(1, 1), classifier = Linear(512, classes).
import type { Tensor } from '../tensor/tensor.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential, type InitOptions } from '../nn/layers.js';
import { runConvStack, stackPartOf } from '../nn/convStack.js';
import * as F from '../nn/functional.js';
import type { LocalPlan } from '../nn/localForward.js';
import { ImageClassifier, scaled, type LayerSplit, type ModelConfig } from './classifier.js';
import type { Module } from '../nn/module.js';

const M = 'M' as const;
export const VGG_CONFIGS: Record<string, (number | 'M')[]> = {
  vgg11: [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
  vgg13: [64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
  vgg16: [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M],
  vgg19: [64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M],
};

export class VGG extends ImageClassifier {
  readonly features: Sequential;
  readonly classifier: Linear;
  /** Index in `features` of the last ReLU (replaced by the fake ReLU on request). */
  readonly #lastRelu: number;

  constructor(config: ModelConfig, init: InitOptions = {}) {
    super(config);
    const cfg = VGG_CONFIGS[config.arch];
    if (!cfg) throw new Error(`unknown VGG '${config.arch}' (expected ${Object.keys(VGG_CONFIGS).join(', ')})`);
    const pools = cfg.filter((x) => x === M).length;
    const [c, h, w] = config.inputShape;
    if (h < 2 ** pools || w < 2 ** pools) {
      throw new Error(
        `${config.arch} halves the image ${pools} times and needs inputs of at least ${2 ** pools}x${2 ** pools}, got ${h}x${w}`,
      );
    }
    const layers: Module[] = [];
    let inC = c;
    let lastRelu = -1;
    for (const x of cfg) {
      if (x === M) {
        layers.push(new MaxPool2d(2, 2));
      } else {
        const outC = scaled(x, this.config.width);
        layers.push(
          new Conv2d(inC, outC, 3, { padding: 1, generator: init.generator }),
          ...((config.batchNorm ?? true) ? [new BatchNorm2d(outC)] : []),
          new ReLU(),
        );
        lastRelu = layers.length - 1;
        inC = outC;
      }
    }
    layers.push(new AvgPool2d(1, 1));
    this.#lastRelu = lastRelu;
    this.features = this.registerModule('features', new Sequential(...layers));
    this.classifier = this.registerModule('classifier', new Linear(inC, config.numClasses, { generator: init.generator }));
  }

  override localPlan(): LocalPlan {
    return {
      normalize: (x) => this.normalize(x),
      layers: this.features.layers,
      tail: (h) => this.classifier.forward((h.shape[2] !== 1 || h.shape[3] !== 1 ? F.adaptiveAvgPool2d(h, 1) : h).flatten(1)),
    };
  }

  override layerNames(): string[] {
    return [...this.features.layers.map((_, i) => `features.${i}`), 'penultimate'];
  }

  override splitAt(layer: string): LayerSplit {
    const m = /^features\.(\d+)$/.exec(layer);
    if (m && Number(m[1]) < this.features.layers.length) {
      const k = Number(m[1]);
      const layers = this.features.layers;
      const run = (x: Tensor, from: number, to: number) => layers.slice(from, to).reduce((h, l) => l.forward(h), x);
      const kind = layers[k]!;
      return {
        layer,
        nonNegative: kind instanceof ReLU || kind instanceof MaxPool2d || kind instanceof AvgPool2d,
        head: (x) => run(this.normalize(x), 0, k + 1),
        tail: (a) => {
          let h = run(a, k + 1, layers.length);
          if (h.shape[2] !== 1 || h.shape[3] !== 1) h = F.adaptiveAvgPool2d(h, 1);
          return this.classifier.forward(h.flatten(1));
        },
      };
    }
    return super.splitAt(layer);
  }

  protected embed(x: Tensor, fakeRelu: boolean): Tensor {
    const layers = this.features.layers;
    // the front convolutions in one native call where it can (nn/convStack.ts), up to the fake ReLU
    const stack = runConvStack(x, () => layers.slice(0, fakeRelu ? this.#lastRelu : layers.length).map(stackPartOf));
    let cur = stack ? stack.out : x;
    for (let i = stack ? stack.count : 0; i < layers.length; i++) {
      const next = fakeRelu && i === this.#lastRelu ? F.fakeRelu(cur) : layers[i]!.forward(cur);
      if (cur !== x) cur.dispose();
      cur = next;
    }
    // The CIFAR layout ends at 1x1; larger inputs are averaged to 1x1 so features stay 512-d.
    if (cur.shape[2] !== 1 || cur.shape[3] !== 1) {
      const pooled = F.adaptiveAvgPool2d(cur, 1);
      cur.dispose();
      cur = pooled;
    }
    const flat = cur.flatten(1);
    cur.dispose();
    return flat;
  }
}
