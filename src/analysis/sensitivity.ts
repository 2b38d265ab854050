// The sensitivity pipeline behind `sauron sensitivity`: feature statistics, Delta for every
// neuron and input, scaled values, rankings and per-neuron summaries, streamed batch by batch
// so memory stays bounded whatever the data-set size.
import { writeFeatureStats } from './sensitivityFiles.js';
import { withEval } from '../nn/module.js';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
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
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { allGatherRows, broadcastJson } from '../tensor/collectives.js';
import { zeros } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

export const QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95] as const;

export interface NeuronSummary {
  index: number;
  featureMean: number;
  featureStd: number;
  zeroRate: number;
  /** Mean of the finite scaled sensitivities (the pruning order uses its absolute value). */
  meanScaled: number | null;
  /** Quantiles of the finite Delta values, keyed "q05", "q25", ... */
  deltaQuantiles: Record<string, number> | null;
  /** Fraction of inputs for which no change of this neuron alone flips the prediction. */
  infRate: number;
  /** Inputs for which this neuron is among the top-k most sensitive. */
  topKCount: number;
}

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
  onProgress?: (phase: string, p: Progress) => void;
  /**
   * Split the work across the process group's ranks: batch b goes to rank b mod world, and
   * rank 0 gathers every batch's features, logits and Deltas in data-set order and alone
   * writes the files, which are then exactly a single process's. The other ranks get the
   * same result without `scaledSample` (empty).
   */
  acrossRanks?: boolean;
}

export interface SensitivityResult {
  count: number;
  featureDim: number;
  classes: number;
  accuracy: number;
  stats: FeatureStats;
  neurons: NeuronSummary[];
  /** Neuron indices by ascending |meanScaled| ("most sensitive" first, section 6). */
  mostSensitive: number[];
  /** A sample of finite scaled sensitivities, for the distribution figure. */
  scaledSample: Float32Array;
  deadFeatures: number;
}

/** Reads row f (N float32 values) of a [F, N] float32 .npy written by NpyWriter. */
function readRow(fd: number, dataStart: number, n: number, f: number, out: Float32Array): void {
  const bytes = new Uint8Array(out.buffer, out.byteOffset, n * 4);
  let off = 0;
  while (off < bytes.byteLength) off += readSync(fd, bytes, off, bytes.byteLength - off, dataStart + f * n * 4 + off);
}

function quantile(sorted: Float32Array, q: number): number {
  // linear interpolation between closest ranks, numpy's default
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

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
  const stats = await featureStats(model, opts.statsSets, { batchSize, acrossRanks: opts.acrossRanks,
    onProgress: (p) => opts.onProgress?.('statistics', p) });
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
        scope(() => noGrad(() => gatherBatch(model, b ? { images: b.images, labels: b.labels } : null, world).forEach((part) => {
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
        })));
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
  const sampleSize = opts.sampleSize ?? 2_000_000;
  const perNeuron = Math.max(1, Math.floor(sampleSize / f));
  const sample: number[] = [];
  const neurons: NeuronSummary[] = [];
  const header = readFileSync(deltasPath).subarray(0, 10);
  const dataStart = 10 + header.readUInt16LE(8);
  const fd = openSync(deltasPath, 'r');
  const row = new Float32Array(n);
  try {
    for (let j = 0; j < f; j++) {
      readRow(fd, dataStart, n, j, row);
      const finite = row.filter((v) => Number.isFinite(v)).sort();
      const mu = stats.mean[j]!;
      const sd = stats.std[j]! + eps;
      const stride = Math.max(1, Math.floor(finite.length / perNeuron));
      // A neuron that is (almost) never active has a (near) zero std: its scaled values are
      // huge and meaningless and would swamp the distribution, so the figure's sample leaves
      // out neurons that are zero on 99% of the inputs or more.
      const dead = stats.zeroRate[j]! >= 0.99 || !(stats.std[j]! > 0);
      for (let k = 0; !dead && k < finite.length; k += stride) {
        const s = (finite[k]! - mu) / sd;
        if (Number.isFinite(s)) sample.push(s);
      }
      neurons.push({
        index: j, featureMean: mu, featureStd: stats.std[j]!, zeroRate: stats.zeroRate[j]!,
        meanScaled: scaledCount[j]! > 0 ? scaledSum[j]! / scaledCount[j]! : null,
        deltaQuantiles: finite.length ? Object.fromEntries(QUANTILES.map((q) => [`q${String(Math.round(q * 100)).padStart(2, '0')}`, quantile(finite, q)])) : null,
        infRate: (n - finite.length) / n,
        topKCount: topKCount[j]!,
      });
      if (j % 16 === 15 || j === f - 1) opts.onProgress?.('summaries', { done: j + 1, total: f });
    }
  } finally {
    closeSync(fd);
    if (!dir) rmSync(scratch, { recursive: true, force: true });
  }
  if (dir) {
    saveNpyArray(join(dir, 'labels.npy'), labels, [n], 'int64');
    saveNpyArray(join(dir, 'predictions.npy'), predictions, [n], 'int64');
    writeFeatureStats(dir, stats.mean, stats.std);
  }
  // Neurons with no finite value sort last (they are never the easiest to attack).
  const mostSensitive = neurons.map((x) => x.index).sort((a, b) => {
    const ma = neurons[a]!.meanScaled;
    const mb = neurons[b]!.meanScaled;
    return (ma === null ? Infinity : Math.abs(ma)) - (mb === null ? Infinity : Math.abs(mb)) || a - b;
  });
  const result = {
    count: n, featureDim: f, classes: c, accuracy: correct / n, stats, neurons, mostSensitive,
    scaledSample: Float32Array.from(sample), deadFeatures: neurons.filter((x) => x.zeroRate === 1).length,
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
    if (!b) return { logits: zeros([0, c], on), features: zeros([0, f], on), dRows: zeros([0, f], on), labels: zeros([0], { ...on, dtype: 'int64' }) };
    const { logits, features } = model.forward(b.images);
    return { logits, features, dRows: delta(logits, features, model.classifier.weight).t().contiguous(), labels: b.labels };
  });
  if (world === 1) return [local];
  const parts = (['logits', 'features', 'dRows', 'labels'] as const).map((k) => allGatherRows(local[k]));
  return parts[0]!.map((_, r) => ({ logits: parts[0]![r]!, features: parts[1]![r]!, dRows: parts[2]![r]!, labels: parts[3]![r]! }));
}

/** A rank other than 0: its batches through the model and to rank 0, then rank 0's summaries. */
async function followSensitivity(model: ImageClassifier, ds: ImageDataset, stats: FeatureStats, batchSize: number,
  world: number, rank: number): Promise<SensitivityResult> {
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
