// Feature statistics over a data set (method.md section 1): per-feature mean, unbiased
// standard deviation, min, max and dead-feature rate, accumulated batch by batch in float64.
import { withEval } from '../nn/module.js';
import type { ImageDataset } from '../data/dataset.js';
import { batches, batchCount } from '../data/loader.js';
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { zeros } from '../tensor/creation.js';
import type { Progress } from '../progress.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { allGatherRows } from '../tensor/collectives.js';

/** Per-neuron statistics of the features z over a set of inputs: arrays of length F (feature neurons). */
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

  /** Adds a batch of `rows` feature vectors, row-major [rows, F]. */
  add(features: Float32Array, rows: number): void {
    const f = this.featureDim;
    if (features.length !== rows * f) throw new Error(`feature batch has ${features.length} values, expected ${rows} x ${f}`);
    if (rows === 0) return;
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

  /** The statistics of every row added so far. */
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

/**
 * Statistics of the model's penultimate features over one or more data sets. `acrossRanks`:
 * the process group's ranks take turns at the batches (batch b goes to rank b mod world), and
 * every rank adds all the gathered features in data-set order, so each gets exactly the
 * statistics one process computes.
 *
 * @example
 * ```ts
 * const stats = await featureStats(model, [trainSet, testSet]);
 * stats.mean; // Float64Array [F]: each neuron's mean activation
 * ```
 */
export async function featureStats(
  model: ImageClassifier,
  sets: ImageDataset[],
  opts: { batchSize?: number; onProgress?: (p: Progress) => void; acrossRanks?: boolean } = {},
): Promise<FeatureStats> {
  const acc = new FeatureStatsAccumulator(model.featureDim);
  const batchSize = opts.batchSize ?? 256;
  const total = sets.reduce((a, s) => a + batchCount(s, batchSize), 0);
  const world = opts.acrossRanks ? getWorldSize() : 1;
  const rank = world > 1 ? getRank() : 0;
  let done = 0;
  await withEval(model, async () => {
    for (const ds of sets) {
      const n = batchCount(ds, batchSize);
      const mine = batches(ds, { batchSize, device: model.device, pick: (b) => b % world === rank });
      for (let round = 0; round * world < n; round++) {
        // every rank joins every round, with an empty batch past the end
        const b = round * world + rank < n ? (await mine.next()).value : null;
        scope(() =>
          noGrad(() => {
            const features = b ? model.forward(b.images).features : zeros([0, model.featureDim], { device: model.device });
            for (const part of allGatherRows(features)) acc.add(part.toArray<'float32'>(), part.shape[0]!);
            if (b) {
              b.images.dispose();
              b.labels.dispose();
            }
          }),
        );
        done += Math.min(world, n - round * world);
        opts.onProgress?.({ done, total });
      }
    }
  });
  return acc.result();
}
