// The one interface every Sauron model shares: images in [0, 1] (NCHW float32) in,
// { logits, features } out, features = penultimate activations after the last ReLU,
// final layer an nn.Linear named `classifier` with weight [classes, features].
import { tensor } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/deviceState.js';
import { Module } from '../nn/module.js';
import type { LocalPlan } from '../nn/localForward.js';
import type { Normalization } from '../data/dataset.js';

// Data sets say how their images are normalised; the model applies it inside forward.
export type { Normalization };

/**
 * What a zoo model is built from: architecture, input shape, classes, width and normalisation (model.json records it).
 */
export interface ModelConfig {
  /** Architecture name from the zoo, e.g. "vgg19", "resnet18", "small-cnn". */
  arch: string;
  /** [channels, height, width] of one input image. */
  inputShape: [number, number, number];
  numClasses: number;
  /** Channel-width multiplier (1 = the paper's widths). */
  width?: number;
  /** Per-channel mean/std applied inside the model; identity when omitted. */
  normalization?: Normalization;
  /**
   * false: convolutions without batch norm (small-cnn and VGG, as torchvision's vgg11 is to
   * vgg11_bn). Default true. Such a model has nothing a data-parallel rank computes from its
   * own batch alone, so several ranks take exactly one process's steps.
   */
  batchNorm?: boolean;
}

/** What an {@link ImageClassifier}'s forward returns for images [N, C, H, W]. */
export interface ModelOutput {
  logits: Tensor;
  /** [N, featureDim], non-negative (after the last ReLU). */
  features: Tensor;
}

/** Options of an {@link ImageClassifier}'s forward. */
export interface ForwardOptions {
  /** Pass gradients through the final ReLU as identity (the reference's "fake ReLU"). */
  fakeRelu?: boolean;
}

/** The final layer: logits = features @ weight.T + bias (PyTorch's nn.Linear layout). */
export interface ClassifierLayer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Logits [N, outFeatures] from features [N, inFeatures]. */
  forward(features: Tensor): Tensor;
}

/** A model cut after one layer: images -> that layer's output -> logits. */
export interface LayerSplit {
  layer: string;
  /** Output of the layer for images in [0, 1] (normalisation included). */
  head(x: Tensor): Tensor;
  /** Logits from that output. */
  tail(a: Tensor): Tensor;
  /** The layer's output is never negative (it follows a ReLU or max pool of one). */
  nonNegative: boolean;
}

/**
 * The one classifier interface every analysis, attack and training step uses: images [N, C, H, W]
 * in [0, 1] go in (normalised inside), logits [N, classes] and the penultimate features
 * z [N, featureDim] (after the last ReLU) come out, and the last layer is `classifier`, so that
 * logits = z W^T + b with W = `classifier.weight` [classes, featureDim]. The zoo's models
 * ({@link createModel}) and users' TorchScript models ({@link TorchScriptClassifier}) are both one.
 *
 * @example
 * ```ts
 * const { model } = loadModel('runs/fm-standard');
 * const { logits, features } = scope(() => noGrad(() => model.eval().forward(images)));
 * ```
 */
export abstract class ImageClassifier extends Module<[Tensor, ForwardOptions?], ModelOutput> {
  abstract readonly classifier: ClassifierLayer;
  readonly config: Required<Omit<ModelConfig, 'batchNorm'>> & Pick<ModelConfig, 'batchNorm'>;
  readonly #mean: Tensor;
  readonly #std: Tensor;

  protected constructor(config: ModelConfig) {
    super();
    const [c, h, w] = config.inputShape;
    for (const [n, v] of [
      ['channels', c],
      ['height', h],
      ['width', w],
      ['numClasses', config.numClasses],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${n} must be a positive integer, got ${v}`);
    }
    const width = config.width ?? 1;
    if (!(width > 0)) throw new RangeError(`width multiplier must be positive, got ${width}`);
    const normalization = config.normalization ?? { mean: Array(c).fill(0), std: Array(c).fill(1) };
    if (normalization.mean.length !== c || normalization.std.length !== c) {
      throw new RangeError(`normalization needs ${c} means and stds (one per channel)`);
    }
    if (normalization.std.some((s) => !(s > 0))) throw new RangeError('normalization std must be positive');
    this.config = { ...config, width, normalization };
    this.#mean = tensor(normalization.mean, { shape: [1, c, 1, 1] }).keep();
    this.#std = tensor(normalization.std, { shape: [1, c, 1, 1] }).keep();
  }

  get featureDim(): number {
    return this.classifier.inFeatures;
  }

  get numClasses(): number {
    return this.classifier.outFeatures;
  }

  /** Penultimate features of normalised images, [N, featureDim]. */
  protected abstract embed(x: Tensor, fakeRelu: boolean): Tensor;

  /** Logits [N, classes] and features [N, featureDim] of images [N, C, H, W] in [0, 1]. */
  forward(x: Tensor, opts: ForwardOptions = {}): ModelOutput {
    this.checkInput(x);
    const xn = x.sub(this.#mean).div(this.#std);
    const features = this.embed(xn, opts.fakeRelu ?? false);
    const logits = this.classifier.forward(features);
    return { logits, features };
  }

  /**
   * The forward as a stack of layers that a local forward (nn/localForward.ts) can rerun on the
   * windows a small change reaches, or null (the default: not such a stack).
   */
  localPlan(): LocalPlan | null {
    return null;
  }

  /** Layers the model can be cut after (for Delta of inner neurons); 'penultimate' always. */
  layerNames(): string[] {
    return ['penultimate'];
  }

  /** The model cut after `layer`. Subclasses add their inner layers. */
  splitAt(layer: string): LayerSplit {
    if (layer !== 'penultimate') throw new Error(`${this.config.arch} has no layer '${layer}' (layers: ${this.layerNames().join(', ')})`);
    return { layer, nonNegative: true, head: (x) => this.forward(x).features, tail: (a) => this.classifier.forward(a) };
  }

  /** Normalises images as forward does. */
  normalize(x: Tensor): Tensor {
    return x.sub(this.#mean).div(this.#std);
  }

  /** Logits from penultimate features: the classifier layer alone. */
  logitsFromFeatures(features: Tensor): Tensor {
    return this.classifier.forward(features);
  }

  /** Throws a one-line error unless x is float32 [N, C, H, W] with this model's C, H, W. */
  checkInput(x: Tensor): void {
    const [c, h, w] = this.config.inputShape;
    const s = x.shape;
    if (s.length !== 4 || s[1] !== c || s[2] !== h || s[3] !== w) {
      throw new Error(`model ${this.config.arch} expects images [N, ${c}, ${h}, ${w}], got [${s.join(', ')}]`);
    }
    if (x.dtype !== 'float32') throw new Error(`model ${this.config.arch} expects float32 images, got ${x.dtype}`);
  }

  override to(device: Device): this {
    super.to(device);
    this.#mean.moveTo_(device);
    this.#std.moveTo_(device);
    return this;
  }

  override dispose(): void {
    super.dispose();
    this.#mean.dispose();
    this.#std.dispose();
  }
}

export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}
