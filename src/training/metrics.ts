// A run's metrics.jsonl: one JSON line per finished epoch. Kept apart from the run folder's
// other files so checkpoints (which carry a copy) and the run folder share one reader.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../serialization/atomic.js';
import { parseJsonText } from '../serialization/schema.js';
import type { TrainConfig } from './config.js';

export const METRICS_FILE = 'metrics.jsonl';

/** One epoch's line of metrics.jsonl: losses, accuracies and rates are fractions, times in seconds. */
export interface EpochMetrics {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  testAccuracy: number;
  testLoss: number;
  /** L2 PGD success rate on the fixed validation subset (null when switched off). */
  pgdSuccessRate: number | null;
  /**
   * Robust accuracy on the same subset (correct before and after the attack); the `best-robust`
   * criterion. Absent in runs written before it was recorded.
   */
  pgdRobustAccuracy?: number | null;
  lr: number;
  /** Whole epoch, including evaluation. */
  seconds: number;
  /** Training batches only. */
  trainSeconds: number;
}

export function writeMetrics(dir: string, metrics: EpochMetrics[]): void {
  writeFileAtomic(join(dir, METRICS_FILE), metrics.map((m) => JSON.stringify(m)).join('\n') + (metrics.length ? '\n' : ''));
}

/** Reads a run folder's metrics.jsonl, one entry per finished epoch (empty when there is none). */
export function readMetrics(dir: string): EpochMetrics[] {
  const p = join(dir, METRICS_FILE);
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8')
    .split('\n')
    .flatMap((l, i) => {
      if (!l.trim()) return [];
      const m = parseJsonText(l, `${p}:${i + 1}`);
      if (!m || typeof m !== 'object' || !Number.isInteger((m as EpochMetrics).epoch))
        throw new Error(`${p}:${i + 1}: expected an epoch's metrics object`);
      return [m as EpochMetrics];
    });
}

/** The log line of a finished epoch. */
export function epochLine(m: EpochMetrics, c: TrainConfig): string {
  return (
    `epoch ${m.epoch}/${c.epochs}: loss ${m.loss.toFixed(4)}, train accuracy ${(100 * m.trainAccuracy).toFixed(2)}%, ` +
    `test accuracy ${(100 * m.testAccuracy).toFixed(2)}%` +
    (m.pgdSuccessRate === null
      ? ''
      : `, L2 PGD success ${(100 * m.pgdSuccessRate).toFixed(1)}%` +
        (m.pgdRobustAccuracy == null ? '' : `, robust accuracy ${(100 * m.pgdRobustAccuracy).toFixed(1)}%`) +
        ` (eps ${c.validation.eps})`) +
    `, lr ${m.lr.toExponential(2)}, ${m.seconds.toFixed(1)} s`
  );
}
