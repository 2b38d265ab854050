// Where a training run starts: a new run at epoch 0, a resumed one from its newest readable
// checkpoint, a finished one (nothing to do), or, on a rank other than 0 of a data-parallel
// run, rank 0's plan; and rank 0 handing that start (plan, weights, optimizer state) to the
// other ranks.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageClassifier } from '../models/classifier.js';
import { MANIFEST_FILE } from '../models/runFolder.js';
import type { GradScaler } from '../optim/gradScaler.js';
import type { Optimizer } from '../optim/optimizer.js';
import { broadcastBytes } from '../tensor/collectives.js';
import { DamagedCheckpointError, findCheckpoints, loadCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { broadcastParameters } from './dataParallel.js';
import { readMetrics, writeConfig, writeMetrics, type EpochMetrics } from './runDir.js';

/** What rank 0 tells the other ranks of a data-parallel run before the first step. */
export interface Plan {
  config: TrainConfig;
  startEpoch: number;
  step: number;
  bestEpoch?: number;
  metrics: EpochMetrics[];
  gradScale?: ReturnType<GradScaler['state']>;
  /** The optimizer state follows as bytes (a resumed run). */
  optimizerState: boolean;
  /** The run was already finished: nothing to do. */
  done?: boolean;
}

/** The epochs done, optimizer steps taken, kept epoch and metrics so far. */
export interface StartPoint {
  startEpoch: number;
  step: number;
  bestEpoch?: number;
  metrics: EpochMetrics[];
  /** Weights and optimizer state came from a checkpoint. */
  restoredState: boolean;
  /** The run was already finished: nothing to train. */
  done: boolean;
}

/** The model, optimizer and loss scaler a start is loaded into. */
export interface Trainee {
  model: ImageClassifier;
  opt: Optimizer;
  scaler: GradScaler | null;
}

/**
 * The start of the run in `out`: `plan` (another rank), a checkpoint loaded into `t` (resume),
 * or epoch 0 with the settings written (a new run). A resumed run that already finished is
 * announced to the other ranks as done.
 */
export function startPoint(
  c: TrainConfig,
  o: { out: string; resume?: boolean },
  plan: Plan | null,
  t: Trainee,
  log: (line: string) => void,
  announce?: (plan: Plan) => void,
): StartPoint {
  if (plan) {
    const { startEpoch, step, bestEpoch, metrics } = plan;
    if (plan.done) return { startEpoch, step, bestEpoch, metrics, restoredState: false, done: true };
    if (t.scaler && plan.gradScale) t.scaler.loadState(plan.gradScale);
    return { startEpoch, step, bestEpoch, metrics, restoredState: false, done: false };
  }
  if (!o.resume) {
    writeConfig(o.out, c);
    return { startEpoch: 0, step: 0, metrics: [], restoredState: false, done: false };
  }
  let startEpoch = 0;
  let step = 0;
  let bestEpoch: number | undefined;
  let restoredState = false;
  const ck = findCheckpoints(o.out);
  if (ck.length) {
    const restored = restore(ck, t.model, t.opt, c.epochs, log);
    ({ epoch: startEpoch, step, bestEpoch } = restored);
    restoredState = true;
    if (t.scaler && restored.gradScale) t.scaler.loadState(restored.gradScale);
    if (restored.metrics) writeMetrics(o.out, restored.metrics);
    log(`resuming ${o.out} after epoch ${startEpoch} of ${c.epochs}`);
  } else if (existsSync(join(o.out, MANIFEST_FILE))) {
    const done = readMetrics(o.out);
    log(`${o.out} already holds the finished run (${done.length} epochs): nothing to resume`);
    announce?.({ config: c, startEpoch: c.epochs, step, metrics: done, optimizerState: false, done: true });
    return { startEpoch: c.epochs, step, metrics: done, restoredState: false, done: true };
  } else {
    log(`no checkpoint in ${o.out}: starting from epoch 1`);
  }
  const metrics = readMetrics(o.out).filter((m) => m.epoch <= startEpoch);
  return { startEpoch, step, bestEpoch, metrics, restoredState, done: false };
}

/**
 * Data-parallel runs: rank 0 announces its start, then every rank takes rank 0's weights,
 * buffers and, for a resumed run, optimizer state (momentum).
 */
export function shareStart(c: TrainConfig, s: StartPoint, t: Trainee, plan: Plan | null, announce?: (plan: Plan) => void): void {
  const lead = plan === null;
  if (lead) {
    announce!({
      config: c,
      startEpoch: s.startEpoch,
      step: s.step,
      ...(s.bestEpoch === undefined ? {} : { bestEpoch: s.bestEpoch }),
      metrics: s.metrics,
      ...(t.scaler ? { gradScale: t.scaler.state() } : {}),
      optimizerState: s.restoredState,
    });
  }
  broadcastParameters(t.model);
  if (lead ? s.restoredState : plan!.optimizerState) {
    const state = broadcastBytes(lead ? t.opt.saveState() : null);
    if (!lead) t.opt.loadState(Buffer.from(state.buffer, state.byteOffset, state.byteLength));
  }
}

/**
 * The newest checkpoint that reads back whole. A damaged one falls back to the one before it
 * (left by a swap cut short); with none left, the error names the file and the way out.
 */
function restore(candidates: string[], model: ImageClassifier, opt: Optimizer, epochs: number, log: (line: string) => void) {
  let last: DamagedCheckpointError | null = null;
  for (const dir of candidates) {
    try {
      const r = loadCheckpoint(dir, model, opt, epochs);
      if (last) log(`${last.message}; resuming from the previous checkpoint in ${dir}`);
      return r;
    } catch (e) {
      if (!(e instanceof DamagedCheckpointError)) throw e;
      last = e;
    }
  }
  throw new Error(`${last!.message}: the run cannot resume from it and no earlier checkpoint is kept; start over with --force`);
}
