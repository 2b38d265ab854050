// The data-set interface every loader implements: images in [0, 1] as float32 NCHW,
// labels as int64, loaded batch by batch so memory does not grow with the data set.
import { tensor } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

/** A data set's split. */
export type Split = 'train' | 'test';

/** Per-channel mean and std a model normalises this data set's images with. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/** Data sets build batches on the host; loaders move them to the device (see loader.ts). */
export const HOST = 'cpu';

/** A batch of images and labels, as data sets and loaders deliver it. */
export interface Batch {
  /** float32 [B, C, H, W] in [0, 1]. */
  images: Tensor;
  /** int64 [B]. */
  labels: Tensor;
  /** Positions of these samples in the data set. */
  indices: number[];
}

/**
 * A labelled image data set: every data set (Fashion-MNIST, CIFAR-10, image folders, subsets) is one.
 * Images are float32 [C, H, W] with pixels in [0, 1]; models normalise them inside.
 */
export interface ImageDataset {
  /** 'fashion-mnist', 'cifar10', 'imagenet', ... */
  readonly name: string;
  readonly split: Split;
  readonly length: number;
  /** [C, H, W] of one image as loaded. */
  readonly imageShape: [number, number, number];
  readonly classNames: string[];
  /** Per-channel mean/std the models of this data set normalise with. */
  readonly normalization: Normalization;
  /** The label of sample i (no image decoding). */
  label(i: number): number;
  /**
   * Loads samples (in the given order). `augment` applies the data set's training-time
   * transform where it is part of decoding (e.g. random-resized crops of folder images),
   * drawn from `seed` so a sample gets the same crop for the same seed.
   */
  load(indices: number[], opts?: { augment?: boolean; seed?: number }): Promise<Batch>;
}

/** A data set held as uint8 CHW images in memory (Fashion-MNIST, CIFAR-10). */
export class InMemoryDataset implements ImageDataset {
  readonly length: number;
  readonly #pixels: number;

  constructor(
    readonly name: string,
    readonly split: Split,
    readonly imageShape: [number, number, number],
    readonly classNames: string[],
    readonly normalization: Normalization,
    /** N * C * H * W bytes, each image stored CHW. */
    readonly images: Uint8Array,
    readonly labels: Uint8Array,
  ) {
    this.#pixels = imageShape[0] * imageShape[1] * imageShape[2];
    if (images.length !== labels.length * this.#pixels) {
      throw new Error(`${name} ${split}: ${labels.length} labels but ${images.length / this.#pixels} images`);
    }
    for (let i = 0; i < labels.length; i++) {
      if (labels[i]! >= classNames.length)
        throw new Error(`${name} ${split}: label ${labels[i]} of sample ${i} is not one of the ${classNames.length} classes`);
    }
    this.length = labels.length;
  }

  label(i: number): number {
    return this.labels[i]!;
  }

  async load(indices: number[]): Promise<Batch> {
    return this.loadSync(indices);
  }

  /** Loads samples synchronously (in-memory data sets decode nothing). */
  loadSync(indices: number[]): Batch {
    const n = this.#pixels;
    const buf = new Uint8Array(indices.length * n);
    const lab = new BigInt64Array(indices.length);
    indices.forEach((idx, k) => {
      if (!Number.isInteger(idx) || idx < 0 || idx >= this.length)
        throw new RangeError(`sample index ${idx} is outside 0..${this.length - 1}`);
      buf.set(this.images.subarray(idx * n, (idx + 1) * n), k * n);
      lab[k] = BigInt(this.labels[idx]!);
    });
    const raw = tensor(buf, { shape: [indices.length, ...this.imageShape], device: HOST });
    const images = raw.to('float32').div_(255);
    raw.dispose();
    return { images, labels: tensor(lab, { device: HOST }), indices };
  }
}

/** A view of some samples of another data set (--limit / --indices). */
export class SubsetDataset implements ImageDataset {
  readonly name: string;
  readonly split: Split;
  readonly imageShape: [number, number, number];
  readonly classNames: string[];
  readonly normalization: Normalization;

  constructor(
    readonly base: ImageDataset,
    readonly positions: number[],
  ) {
    for (const p of positions) {
      if (!Number.isInteger(p) || p < 0 || p >= base.length)
        throw new RangeError(`index ${p} is outside 0..${base.length - 1} of ${base.name} ${base.split}`);
    }
    this.name = base.name;
    this.split = base.split;
    this.imageShape = base.imageShape;
    this.classNames = base.classNames;
    this.normalization = base.normalization;
  }

  get length(): number {
    return this.positions.length;
  }

  label(i: number): number {
    return this.base.label(this.positions[i]!);
  }

  async load(indices: number[], opts?: { augment?: boolean; seed?: number }): Promise<Batch> {
    const b = await this.base.load(
      indices.map((i) => {
        const p = this.positions[i];
        if (p === undefined) throw new RangeError(`sample index ${i} is outside 0..${this.length - 1}`);
        return p;
      }),
      opts,
    );
    return { ...b, indices };
  }
}
