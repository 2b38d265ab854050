// The sensitivity pipeline behind `sauron sensitivity`: feature statistics, Delta for every
// neuron and input, scaled values, rankings and per-neuron summaries, streamed batch by batch
// so memory stays bounded whatever the data-set size.
import { writeFeatureStats } from './sensitivityFiles.js';
import { withEval } from '../nn/module.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageDataset } from '../data/dataset.js';
import { batches, batchCount } from '../data/loader.js';
import type { ImageClassifier } from '../models/classifier.js';
import { NpyWriter } from '../serialization/npyStream.js';
import { saveNpyArray } from '../serialization/npy.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import type { Progress } from '../progress.js';
import { delta } from './delta.js';
import { featureStats, type FeatureStats } from './featureStats.js';
import { rankNeurons, scaleDeltas } from './scaled.js';
import { summarizeNeurons, type NeuronSummary } from './neuronSummaries.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { allGatherRows, broadcastJson } from '../tensor/collectives.js';
import { zeros } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

/** Options of {@link sensitivity}. */
export interface SensitivityOptions {
  /** Data sets the feature statistics are computed over (the reference: train + test). */
  statsSets: ImageDataset[];
  /** eps in (Delta - mu) / (sigma + eps). */
  eps?: number;
  topK?: number;
  batchSize?: number;
  /** Write the arrays (deltas.npy, features.npy, ...) into this folder; summaries only when absent. */
  outDir?: string;
  /** At most this many finite scaled values are kept for the distribution figure. */
  sampleSize?: number;
  /** Called as the work advances, with its phase ('statistics', 'deltas', then 'summaries') and how far it is. */
  onProgress?: (phase: string, p: Progress) => void;
  /**
   * Split the work across the process group's ranks: batch b goes to rank b mod world, and
   * rank 0 gathers every batch's features, logits and Deltas in data-set order and alone
   * writes the files, which are then exactly a single process's. The other ranks get the
   * same result without `scaledSample` (empty).
   */
  acrossRanks?: boolean;
}

/**
 * What {@link sensitivity} returns: per-neuron figures over N inputs and F feature neurons of a C-class model.
 */
export interface SensitivityResult {
  /** Inputs analysed (N), feature neurons (F), classes (C). */
  count: number;
  featureDim: number;
  classes: number;
  /** Fraction of the N inputs classified correctly. */
  accuracy: number;
  /** Feature statistics over `statsSets` ([F] each). */
  stats: FeatureStats;
  /** One summary per feature neuron, in index order. */
  neurons: NeuronSummary[];
  /** Neuron indices by ascending |meanScaled| ("most sensitive" first, section 6). */
  mostSensitive: number[];
  /** A sample of finite scaled sensitivities, for the distribution figure. */
  scaledSample: Float32Array;
  /** Feature neurons that are zero on every input of `statsSets`. */
  deadFeatures: number;
}

/**
 * Sensitivity analysis (paper section 2.1; terms in docs/glossary.md): Delta(i, x) of every
 * feature neuron i for every input x of `ds`, in closed form from the logits layer, scaled by
 * the feature statistics over `opts.statsSets` and ranked per input; streamed batch by batch, so
 * memory does not grow with N.
 *
 * - `model`: an ImageClassifier (logits = W z + b on its features z), run in eval mode.
 * - `ds`: the N inputs (pixels in [0, 1]); `opts.eps` the scaling's eps (default 1e-10);
 *   `opts.topK` (default 16) the k of each neuron's `topKCount`.
 * - Returns per-neuron summaries ([F]), the pruning order `mostSensitive` and a sample of scaled
 *   values for Figure 1. Delta is in the feature's own units (activation after the last ReLU).
 * - With `opts.outDir`, also writes deltas.npy [F, N] float32 (+inf: no change of that neuron
 *   alone flips the prediction), features.npy [N, F] float32, logits.npy [N, C] float32,
 *   ranking.npy [N, F] int32 (rank 1 first), labels.npy and predictions.npy [N] int64, and
 *   feature_mean.npy / feature_std.npy [F] float32.
 *
 * @example
 * const { model } = loadModel('runs/fm-standard');
 * const test = await openDataset('fashion-mnist', 'test');
 * const r = await sensitivity(model, test, { statsSets: [await openDataset('fashion-mnist', 'train'), test], outDir: 'runs/fm-sens' });
 * r.mostSensitive.slice(0, 16); // the 16 neurons pruning takes first
 */

export async function sensitivity(model: ImageClassifier, ds: ImageDataset, opts: SensitivityOptions): Promise<SensitivityResult> {
  const eps = opts.eps ?? 1e-10;
  const f = model.featureDim;
  const topK = opts.topK ?? 16;
  if (!Number.isInteger(topK) || topK < 1 || topK > f) throw new RangeError(`top-k must be an integer in 1..${f}, got ${topK}`);
  if (!(eps >= 0)) throw new RangeError(`eps must be non-negative, got ${eps}`);
  const batchSize = opts.batchSize ?? 256;
  const n = ds.length;
  const c = model.numClasses;
  if (n === 0) throw new Error('the data set is empty');

  const world = opts.acrossRanks ? getWorldSize() : 1;
  const rank = world > 1 ? getRank() : 0;
  const lead = rank === 0;
  const stats = await featureStats(model, opts.statsSets, {
    batchSize,
    acrossRanks: opts.acrossRanks,
    onProgress: (p) => opts.onProgress?.('statistics', p),
  });
  if (!lead) return followSensitivity(model, ds, stats, batchSize, world, rank);

  const dir = opts.outDir ?? null;
  let scratch: string;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    scratch = dir;
  } else {
    const { tmpdir } = await import('node:os');
    scratch = mkdtempSync(join(tmpdir(), 'sauron-sens-'));
  }
  const deltasPath = join(scratch, 'deltas.npy');
  const deltasOut = new NpyWriter(deltasPath, [f, n], 'float32');
  const featuresOut = dir ? new NpyWriter(join(dir, 'features.npy'), [n, f], 'float32') : null;
  const logitsOut = dir ? new NpyWriter(join(dir, 'logits.npy'), [n, c], 'float32') : null;
  const rankingOut = dir ? new NpyWriter(join(dir, 'ranking.npy'), [n, f], 'int32') : null;
  const labels = new BigInt64Array(n);
  const predictions = new BigInt64Array(n);
  const topKCount = new Float64Array(f);
  const scaledSum = new Float64Array(f);
  const scaledCount = new Float64Array(f);
  let correct = 0;
  let at = 0;
  const total = batchCount(ds, batchSize);
  try {
    await withEval(model, async () => {
      const mine = batches(ds, { batchSize, device: model.device, pick: (b) => b % world === rank });
      for (let round = 0; round * world < total; round++) {
        const b = round * world + rank < total ? (await mine.next()).value! : null;
        // the other ranks' batches of this round follow this one in data-set order
        scope(() =>
          noGrad(() =>
            gatherBatch(model, b ? { images: b.images, labels: b.labels } : null, world).forEach((part) => {
              const { logits, features, dRows, labels: lab64 } = part;
              const rows = logits.shape[0]!;
              const d = dRows.t().contiguous(); // [F, rows]
              const scaled = scaleDeltas(dRows, stats.mean, stats.std, eps);
              const ranks = rankNeurons(scaled);
              const rankArr = ranks.to('int32').toArray<'int32'>();
              for (let r = 0; r < rows; r++) for (let k = 0; k < topK; k++) topKCount[rankArr[r * f + k]!]!++;
              const sc = scaled.toArray<'float32'>();
              for (let r = 0; r < rows; r++) {
                for (let j = 0; j < f; j++) {
                  const v = sc[r * f + j]!;
                  if (Number.isFinite(v)) {
                    scaledSum[j]! += v;
                    scaledCount[j]!++;
                  }
                }
              }
              deltasOut.writeColumns(at, rows, d.toArray<'float32'>());
              featuresOut?.appendRows(features.toArray<'float32'>());
              logitsOut?.appendRows(logits.toArray<'float32'>());
              rankingOut?.appendRows(rankArr);
              const pred = logits.argmax(1).toArray<'int64'>();
              const lab = lab64.toArray<'int64'>();
              predictions.set(pred, at);
              labels.set(lab, at);
              for (let r = 0; r < rows; r++) if (pred[r] === lab[r]) correct++;
              at += rows;
            }),
          ),
        );
        b?.images.dispose();
        b?.labels.dispose();
        opts.onProgress?.('deltas', { done: Math.min(total, (round + 1) * world), total });
      }
    });
  } finally {
    deltasOut.close();
    featuresOut?.close();
    logitsOut?.close();
    rankingOut?.close();
  }

  // Per-neuron pass over the [F, N] rows: quantiles, inf rates and the figure's sample.
  let summaries: { neurons: NeuronSummary[]; sample: number[] };
  try {
    summaries = summarizeNeurons(
      deltasPath,
      n,
      stats,
      { topKCount, scaledSum, scaledCount },
      {
        eps,
        sampleSize: opts.sampleSize ?? 2_000_000,
        onProgress: (p) => opts.onProgress?.('summaries', p),
      },
    );
  } finally {
    if (!dir) rmSync(scratch, { recursive: true, force: true });
  }
  const { neurons, sample } = summaries;
  if (dir) {
    saveNpyArray(join(dir, 'labels.npy'), labels, [n], 'int64');
    saveNpyArray(join(dir, 'predictions.npy'), predictions, [n], 'int64');
    writeFeatureStats(dir, stats.mean, stats.std);
  }
  // Neurons with no finite value sort last (they are never the easiest to attack).
  const mostSensitive = neurons
    .map((x) => x.index)
    .sort((a, b) => {
      const ma = neurons[a]!.meanScaled;
      const mb = neurons[b]!.meanScaled;
      return (ma === null ? Infinity : Math.abs(ma)) - (mb === null ? Infinity : Math.abs(mb)) || a - b;
    });
  const result = {
    count: n,
    featureDim: f,
    classes: c,
    accuracy: correct / n,
    stats,
    neurons,
    mostSensitive,
    scaledSample: Float32Array.from(sample),
    deadFeatures: neurons.filter((x) => x.zeroRate === 1).length,
  };
  if (world > 1) broadcastJson<Shared>({ accuracy: result.accuracy, neurons, mostSensitive, deadFeatures: result.deadFeatures });
  return result;
}

/** What rank 0 tells the others at the end. */
interface Shared {
  accuracy: number;
  neurons: NeuronSummary[];
  mostSensitive: number[];
  deadFeatures: number;
}

interface BatchOutputs {
  logits: Tensor;
  features: Tensor;
  /** Delta as [rows, F]. */
  dRows: Tensor;
  labels: Tensor;
}

/**
 * This rank's batch (or none) through the model, then every rank's outputs in rank order
 * (= data-set order: batch b is rank b mod world's), inside the caller's scope.
 */
function gatherBatch(model: ImageClassifier, b: { images: Tensor; labels: Tensor } | null, world: number): BatchOutputs[] {
  const f = model.featureDim;
  const c = model.numClasses;
  const on = { device: model.device };
  const local = noGrad(() => {
    if (!b)
      return {
        logits: zeros([0, c], on),
        features: zeros([0, f], on),
        dRows: zeros([0, f], on),
        labels: zeros([0], { ...on, dtype: 'int64' }),
      };
    const { logits, features } = model.forward(b.images);
    return { logits, features, dRows: delta(logits, features, model.classifier.weight).t().contiguous(), labels: b.labels };
  });
  if (world === 1) return [local];
  const parts = (['logits', 'features', 'dRows', 'labels'] as const).map((k) => allGatherRows(local[k]));
  return parts[0]!.map((_, r) => ({ logits: parts[0]![r]!, features: parts[1]![r]!, dRows: parts[2]![r]!, labels: parts[3]![r]! }));
}

/** A rank other than 0: its batches through the model and to rank 0, then rank 0's summaries. */
async function followSensitivity(
  model: ImageClassifier,
  ds: ImageDataset,
  stats: FeatureStats,
  batchSize: number,
  world: number,
  rank: number,
): Promise<SensitivityResult> {
  const total = batchCount(ds, batchSize);
  await withEval(model, async () => {
    const mine = batches(ds, { batchSize, device: model.device, pick: (b) => b % world === rank });
    for (let round = 0; round * world < total; round++) {
      const b = round * world + rank < total ? (await mine.next()).value! : null;
      scope(() => gatherBatch(model, b ? { images: b.images, labels: b.labels } : null, world));
      b?.images.dispose();
      b?.labels.dispose();
    }
  });
  const shared = broadcastJson<Shared>(null);
  return { count: ds.length, featureDim: model.featureDim, classes: model.numClasses, stats, scaledSample: new Float32Array(0), ...shared };
}
