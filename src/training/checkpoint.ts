// Training checkpoints: weights, optimizer state and progress, swapped in as one folder so
// a kill at any moment leaves either the previous or the new checkpoint, never a mix.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageClassifier } from '../models/classifier.js';
import type { Optimizer } from '../optim/optimizer.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { loadSafetensors, saveSafetensors } from '../serialization/safetensors.js';
import { scope } from '../tensor/scope.js';
import { METRICS_FILE, readMetrics, writeMetrics, type EpochMetrics } from './metrics.js';

export interface CheckpointState {
  /** Number of completed epochs. */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
  /** fp16 training's loss scale. */
  gradScale?: { scale: number; growth: number };
  /** With `keep: 'best-robust'`: the epoch whose weights `best.safetensors` holds. */
  bestEpoch?: number;
}

/** The kept weights of a `keep: 'best-robust'` run, inside each checkpoint. */
export const BEST_WEIGHTS = 'best.safetensors';

const DIR = 'checkpoint';

/**
 * Writes the checkpoint, with the metrics of every epoch it covers, as one folder swap: a
 * kill at any moment leaves a checkpoint whose metrics match it (metrics.jsonl beside it is
 * written after, and repaired from the checkpoint on resume). `best`: 'model' stores the
 * current weights as the kept ones, 'previous' carries the previous checkpoint's kept weights
 * forward, so the kept weights always belong to the checkpoint that names their epoch.
 */
export function saveCheckpoint(runDir: string, model: ImageClassifier, opt: Optimizer, state: CheckpointState,
  metrics: EpochMetrics[] = [], best?: 'model' | 'previous'): void {
  const tmp = join(runDir, `${DIR}.tmp`);
  const old = join(runDir, `${DIR}.old`);
  const cur = join(runDir, DIR);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  saveSafetensors(join(tmp, 'weights.safetensors'), model.stateDict());
  writeFileAtomic(join(tmp, 'optimizer.bin'), opt.saveState());
  writeMetrics(tmp, metrics);
  if (best === 'model') saveSafetensors(join(tmp, BEST_WEIGHTS), model.stateDict());
  if (best === 'previous') {
    const prev = findCheckpoint(runDir);
    if (!prev || !existsSync(join(prev, BEST_WEIGHTS))) throw new Error(`${runDir}: the previous checkpoint holds no kept weights`);
    copyFileSync(join(prev, BEST_WEIGHTS), join(tmp, BEST_WEIGHTS));
  }
  writeFileAtomic(join(tmp, 'state.json'), JSON.stringify(state) + '\n');
  rmSync(old, { recursive: true, force: true });
  if (existsSync(cur)) renameSync(cur, old);
  renameSync(tmp, cur);
  rmSync(old, { recursive: true, force: true });
}

/** The folder of the newest complete checkpoint, or null. */
export function findCheckpoint(runDir: string): string | null {
  for (const d of [DIR, `${DIR}.old`]) {
    const p = join(runDir, d);
    if (existsSync(join(p, 'state.json'))) return p;
  }
  return null;
}

/** Restores model and optimizer; `metrics` is null for checkpoints written before they held them. */
export function loadCheckpoint(dir: string, model: ImageClassifier, opt: Optimizer): CheckpointState & { metrics: EpochMetrics[] | null } {
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as CheckpointState;
  scope(() => model.loadStateDict(loadSafetensors(join(dir, 'weights.safetensors')).tensors));
  opt.loadState(readFileSync(join(dir, 'optimizer.bin')));
  return { ...state, metrics: existsSync(join(dir, METRICS_FILE)) ? readMetrics(dir) : null };
}

/** Loads the kept (best-robust) weights of a checkpoint into the model. */
export function loadBestWeights(dir: string, model: ImageClassifier): void {
  const p = join(dir, BEST_WEIGHTS);
  if (!existsSync(p)) throw new Error(`${dir} holds no kept weights (${BEST_WEIGHTS})`);
  scope(() => model.loadStateDict(loadSafetensors(p).tensors));
}

export function removeCheckpoints(runDir: string): void {
  for (const d of [DIR, `${DIR}.old`, `${DIR}.tmp`]) rmSync(join(runDir, d), { recursive: true, force: true });
}
