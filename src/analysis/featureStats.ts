// Feature statistics over a data set (method.md section 1): per-feature mean, unbiased
// standard deviation, min, max and dead-feature rate, accumulated batch by batch in float64.
import { withEval } from '../nn/module.js';
import type { ImageDataset } from '../data/dataset.js';
import { batches, batchCount } from '../data/loader.js';
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import type { Progress } from '../progress.js';

export interface FeatureStats {
  count: number;
  mean: Float64Array;
  /** Unbiased (n - 1) standard deviation. */
  std: Float64Array;
  min: Float32Array;
  max: Float32Array;
  /** Fraction of inputs on which the feature is exactly zero. */
  zeroRate: Float64Array;
}

/** Accumulates statistics of [N, F] feature batches. */
export class FeatureStatsAccumulator {
  count = 0;
  readonly #sum: Float64Array;
  readonly #sumSq: Float64Array;
  readonly #zeros: Float64Array;
  readonly #min: Float32Array;
  readonly #max: Float32Array;
  #shift: Float64Array | null = null;

  constructor(readonly featureDim: number) {
    this.#sum = new Float64Array(featureDim);
    this.#sumSq = new Float64Array(featureDim);
    this.#zeros = new Float64Array(featureDim);
    this.#min = new Float32Array(featureDim).fill(Infinity);
    this.#max = new Float32Array(featureDim).fill(-Infinity);
  }

  add(features: Float32Array, rows: number): void {
    const f = this.featureDim;
    if (features.length !== rows * f) throw new Error(`feature batch has ${features.length} values, expected ${rows} x ${f}`);
    // Sums of squares around the first row's values avoid cancellation in the variance.
    if (!this.#shift) this.#shift = Float64Array.from(features.subarray(0, f));
    const shift = this.#shift;
    for (let r = 0; r < rows; r++) {
      const o = r * f;
      for (let j = 0; j < f; j++) {
        const v = features[o + j]!;
        const d = v - shift[j]!;
        this.#sum[j]! += d;
        this.#sumSq[j]! += d * d;
        if (v === 0) this.#zeros[j]!++;
        if (v < this.#min[j]!) this.#min[j] = v;
        if (v > this.#max[j]!) this.#max[j] = v;
      }
    }
    this.count += rows;
  }

  result(): FeatureStats {
    const n = this.count;
    const f = this.featureDim;
    if (n === 0) throw new Error('feature statistics need at least one input');
    const mean = new Float64Array(f);
    const std = new Float64Array(f);
    const zeroRate = new Float64Array(f);
    for (let j = 0; j < f; j++) {
      const m = this.#sum[j]! / n;
      mean[j] = m + this.#shift![j]!;
      std[j] = n > 1 ? Math.sqrt(Math.max(0, (this.#sumSq[j]! - n * m * m) / (n - 1))) : NaN;
      zeroRate[j] = this.#zeros[j]! / n;
    }
    return { count: n, mean, std, min: this.#min, max: this.#max, zeroRate };
  }
}

/** Statistics of the model's penultimate features over one or more data sets. */
export async function featureStats(model: ImageClassifier, sets: ImageDataset[],
  opts: { batchSize?: number; onProgress?: (p: Progress) => void } = {}): Promise<FeatureStats> {
  const acc = new FeatureStatsAccumulator(model.featureDim);
  const batchSize = opts.batchSize ?? 256;
  const total = sets.reduce((a, s) => a + batchCount(s, batchSize), 0);
  let done = 0;
  await withEval(model, async () => {
    for (const ds of sets) {
      for await (const b of batches(ds, { batchSize, device: model.device })) {
        scope(() => noGrad(() => {
          acc.add(model.forward(b.images).features.toArray<'float32'>(), b.indices.length);
          b.images.dispose();
          b.labels.dispose();
        }));
        opts.onProgress?.({ done: ++done, total });
      }
    }
  });
  return acc.result();
}
