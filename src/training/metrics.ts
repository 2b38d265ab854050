// A run's metrics.jsonl: one JSON line per finished epoch. Kept apart from the run folder's
// other files so checkpoints (which carry a copy) and the run folder share one reader.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../serialization/atomic.js';
import { parseJsonText } from '../serialization/schema.js';

export const METRICS_FILE = 'metrics.jsonl';

export interface EpochMetrics {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  testAccuracy: number;
  testLoss: number;
  /** L2 PGD success rate on the fixed validation subset (null when switched off). */
  pgdSuccessRate: number | null;
  /**
   * Adversarial accuracy on the same subset (correct after the attack); the `best-robust`
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

export function readMetrics(dir: string): EpochMetrics[] {
  const p = join(dir, METRICS_FILE);
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').flatMap((l, i) => {
    if (!l.trim()) return [];
    const m = parseJsonText(l, `${p}:${i + 1}`);
    if (!m || typeof m !== 'object' || !Number.isInteger((m as EpochMetrics).epoch)) throw new Error(`${p}:${i + 1}: expected an epoch's metrics object`);
    return [m as EpochMetrics];
  });
}
