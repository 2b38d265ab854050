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
export function saveCheckpoint(
  runDir: string,
  model: ImageClassifier,
  opt: Optimizer,
  state: CheckpointState,
  metrics: EpochMetrics[] = [],
  best?: 'model' | 'previous',
): void {
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
  writeFileAtomic(join(tmp, 'state.json'), `${JSON.stringify(state)}\n`);
  rmSync(old, { recursive: true, force: true });
  if (existsSync(cur)) renameSync(cur, old);
  renameSync(tmp, cur);
  rmSync(old, { recursive: true, force: true });
}

/** The folder of the newest complete checkpoint, or null. */
export function findCheckpoint(runDir: string): string | null {
  return findCheckpoints(runDir)[0] ?? null;
}

/** Complete checkpoints, newest first: the current one, and the previous one when a swap was cut short. */
export function findCheckpoints(runDir: string): string[] {
  return [DIR, `${DIR}.old`].map((d) => join(runDir, d)).filter((p) => existsSync(join(p, 'state.json')));
}

/** A checkpoint file that cannot be read back: its path and what is wrong with it. */
export class DamagedCheckpointError extends Error {
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`${file} is damaged (${why})`);
  }
}

const why = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

function checkState(s: unknown, file: string, epochs?: number): CheckpointState {
  const st = s as Partial<CheckpointState> | null;
  const int = (v: unknown, lo: number, hi = Infinity) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  if (!st || typeof st !== 'object') throw new DamagedCheckpointError(file, 'not a JSON object');
  if (!int(st.epoch, 0, epochs))
    throw new DamagedCheckpointError(
      file,
      `epoch ${JSON.stringify(st.epoch)} is not a whole number of epochs from 0 to ${epochs ?? "the run's total"}`,
    );
  if (!int(st.step, 0)) throw new DamagedCheckpointError(file, `step ${JSON.stringify(st.step)} is not a non-negative whole number`);
  if (st.bestEpoch !== undefined && !int(st.bestEpoch, 1, st.epoch))
    throw new DamagedCheckpointError(file, `bestEpoch ${JSON.stringify(st.bestEpoch)} is not an epoch it covers`);
  if (st.gradScale !== undefined && !(st.gradScale.scale > 0 && Number.isInteger(st.gradScale.growth))) {
    throw new DamagedCheckpointError(file, 'gradScale is not a positive scale and a whole growth count');
  }
  return st as CheckpointState;
}

/**
 * Restores model and optimizer; `metrics` is null for checkpoints written before they held
 * them. A file that cannot be read back throws DamagedCheckpointError naming it.
 */
export function loadCheckpoint(
  dir: string,
  model: ImageClassifier,
  opt: Optimizer,
  epochs?: number,
): CheckpointState & { metrics: EpochMetrics[] | null } {
  const at = (f: string) => join(dir, f);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(at('state.json'), 'utf8'));
  } catch (e) {
    throw new DamagedCheckpointError(at('state.json'), why(e));
  }
  const state = checkState(raw, at('state.json'), epochs);
  try {
    scope(() => model.loadStateDict(loadSafetensors(at('weights.safetensors')).tensors));
  } catch (e) {
    throw new DamagedCheckpointError(at('weights.safetensors'), why(e));
  }
  try {
    opt.loadState(readFileSync(at('optimizer.bin')));
  } catch (e) {
    throw new DamagedCheckpointError(at('optimizer.bin'), why(e));
  }
  let metrics: EpochMetrics[] | null = null;
  if (existsSync(at(METRICS_FILE))) {
    try {
      metrics = readMetrics(dir);
    } catch (e) {
      throw new DamagedCheckpointError(at(METRICS_FILE), why(e));
    }
    if (metrics.length !== state.epoch)
      throw new DamagedCheckpointError(at(METRICS_FILE), `${metrics.length} epochs of metrics for a checkpoint after epoch ${state.epoch}`);
  }
  if (state.bestEpoch !== undefined && !existsSync(at(BEST_WEIGHTS))) throw new DamagedCheckpointError(at(BEST_WEIGHTS), 'missing');
  return { ...state, metrics };
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
