// The per-neuron pass of the sensitivity pipeline: one [N] row of deltas.npy ([F, N]) at a time
// from the file, so memory does not grow with the data set: each neuron's Delta quantiles, inf
// rate and mean scaled sensitivity, and the sample of scaled values Figure 1 draws.
import { closeSync, openSync, readSync } from 'node:fs';
import type { Progress } from '../progress.js';
import type { FeatureStats } from './featureStats.js';

export const QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95] as const;

/**
 * One feature neuron's figures over the analysed inputs, as `sensitivity()` returns them and summary.json holds them.
 * Feature values are in the neuron's own units (its activation after the last ReLU).
 */
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

/** Per-neuron sums the batch pass accumulated, [F] each. */
export interface ScaledTotals {
  topKCount: Float64Array;
  scaledSum: Float64Array;
  scaledCount: Float64Array;
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

/**
 * Every neuron's summary from `deltasPath` (a [F, N] float32 .npy of `n` inputs), and a sample of
 * at most about `sampleSize` finite scaled values (eps: as in (Delta - mu) / (sigma + eps)) for
 * Figure 1.
 */
export function summarizeNeurons(
  deltasPath: string,
  n: number,
  stats: FeatureStats,
  totals: ScaledTotals,
  o: { eps: number; sampleSize: number; onProgress?: (p: Progress) => void },
): { neurons: NeuronSummary[]; sample: number[] } {
  const f = stats.mean.length;
  const perNeuron = Math.max(1, Math.floor(o.sampleSize / f));
  const sample: number[] = [];
  const neurons: NeuronSummary[] = [];
  const fd = openSync(deltasPath, 'r');
  try {
    // the .npy header: magic (6 bytes), version (2), header length (uint16 LE), header
    const head = Buffer.alloc(10);
    readSync(fd, head, 0, 10, 0);
    const dataStart = 10 + head.readUInt16LE(8);
    const row = new Float32Array(n);
    for (let j = 0; j < f; j++) {
      readRow(fd, dataStart, n, j, row);
      const finite = row.filter((v) => Number.isFinite(v)).sort();
      const mu = stats.mean[j]!;
      const sd = stats.std[j]! + o.eps;
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
        index: j,
        featureMean: mu,
        featureStd: stats.std[j]!,
        zeroRate: stats.zeroRate[j]!,
        meanScaled: totals.scaledCount[j]! > 0 ? totals.scaledSum[j]! / totals.scaledCount[j]! : null,
        deltaQuantiles: finite.length
          ? Object.fromEntries(QUANTILES.map((q) => [`q${String(Math.round(q * 100)).padStart(2, '0')}`, quantile(finite, q)]))
          : null,
        infRate: (n - finite.length) / n,
        topKCount: totals.topKCount[j]!,
      });
      if (j % 16 === 15 || j === f - 1) o.onProgress?.({ done: j + 1, total: f });
    }
  } finally {
    closeSync(fd);
  }
  return { neurons, sample };
}
