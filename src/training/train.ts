// Standard training of a zoo model on a data set, with per-epoch evaluation, metrics,
// checkpoints and exact resume.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ImageDataset } from '../data/dataset.js';
import { batchCount } from '../data/loader.js';
import { openDataset } from '../data/registry.js';
import { robustAccuracy } from '../attacks/robustAccuracy.js';
import type { ImageClassifier } from '../models/classifier.js';
import { createModel } from '../models/zoo.js';
import { SGD } from '../optim/optimizer.js';
import { ConstantLR, CosineLR, OneCycleLR, StepLR, type LRSchedule } from '../optim/schedules.js';
import { MANIFEST_FILE, saveModel } from '../models/runFolder.js';
import { derivedGenerator, manualSeed } from '../tensor/random.js';
import { DamagedCheckpointError, findCheckpoint, findCheckpoints, loadBestWeights, loadCheckpoint, removeCheckpoints, saveCheckpoint } from './checkpoint.js';
import type { Optimizer } from '../optim/optimizer.js';
import { autocastDtype, isCuda, type Device } from '../tensor/device.js';
import { GradScaler } from '../optim/gradScaler.js';
import { recoverOutput, stagingPath, swapIn, withOutputLock } from '../serialization/outputDir.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { awaitAnnouncement, broadcastBytes, leadAnnouncing } from '../tensor/collectives.js';
import { broadcastParameters } from './dataParallel.js';
import { convertSyncBatchNorm } from '../nn/layers.js';

import type { TrainConfig } from './config.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { trainEpoch, type StepContext } from './trainStep.js';
import type { Progress } from '../progress.js';
import { CONFIG_FILE, prepareRunDir, readConfig, readMetrics, writeConfig, writeMetrics, type EpochMetrics } from './runDir.js';

export interface TrainProgress extends Progress {
  phase: 'train' | 'test';
  epoch: number;
  epochs: number;
}

export interface TrainOptions {
  out: string;
  resume?: boolean;
  force?: boolean;
  onProgress?: (p: TrainProgress) => void;
  log?: (line: string) => void;
  /** Stop after this many epochs in this call (tests use it to simulate an interruption). */
  stopAfterEpochs?: number;
  /** Where to train (default the default device). A run can resume on another device. */
  device?: Device;
}

export interface TrainResult {
  config: TrainConfig;
  metrics: EpochMetrics[];
  final: Evaluation | null;
  completed: boolean;
}

export function makeSchedule(c: TrainConfig, stepsPerEpoch: number): LRSchedule {
  const total = c.epochs * stepsPerEpoch;
  switch (c.schedule) {
    case 'constant': return new ConstantLR(c.lr);
    case 'step': return new StepLR(c.lr, c.stepEpochs * stepsPerEpoch, c.gamma);
    case 'cosine': return new CosineLR(c.lr, total);
    case 'onecycle': return new OneCycleLR(c.lr, total);
    default: throw new Error(`unknown schedule '${String(c.schedule)}'`);
  }
}

export function checkConfig(c: TrainConfig): void {
  const posInt = (n: string, v: number) => {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${n} must be a positive integer, got ${v}`);
  };
  posInt('epochs', c.epochs);
  if (c.method === 'pgd') {
    const a = c.adversarial;
    if (!a) throw new Error('--method pgd needs adversarial settings');
    if (!(a.eps > 0)) throw new RangeError(`--eps must be positive, got ${a.eps}`);
    posInt('attack steps', a.steps);
  }
  if (c.method === 'sensitivity') {
    const r = c.regularizer;
    if (!r) throw new Error('--method sensitivity needs regularizer settings');
    posInt('top-k', r.topK);
    for (const [n, v] of [['--delta1', r.delta1], ['--delta2', r.delta2]] as const) {
      if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${n} must be a non-negative number, got ${v}`);
    }
  }
  if (!Number.isInteger(c.validation.limit) || c.validation.limit < 0) throw new RangeError(`validation limit must be a non-negative integer`);
  if (c.keep !== undefined && c.keep !== 'last' && c.keep !== 'best-robust') throw new Error(`unknown --keep '${String(c.keep)}' (last or best-robust)`);
  if (c.keep === 'best-robust' && c.validation.limit === 0) throw new Error('--keep best-robust needs the validation attack (--val-limit above 0)');
  posInt('batch size', c.batchSize);
  if (!(c.lr > 0)) throw new RangeError(`learning rate must be positive, got ${c.lr}`);
  if (!(c.momentum >= 0 && c.momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${c.momentum}`);
  if (!(c.weightDecay >= 0)) throw new RangeError(`weight decay must be non-negative, got ${c.weightDecay}`);
  if (!Number.isInteger(c.seed) || c.seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${c.seed}`);
}

/**
 * L2 PGD on the first `validation.limit` test inputs (fixed subset, no random start, the
 * reference's step 2.5 * eps / 10): success rate and adversarial accuracy.
 */
export async function validationAttack(model: ImageClassifier, testSet: ImageDataset, c: TrainConfig,
  o: { acrossRanks?: boolean } = {}): Promise<{ successRate: number; robustAccuracy: number }> {
  const v = c.validation;
  return robustAccuracy(model, testSet, { norm: 'l2', eps: v.eps, steps: v.steps, stepSize: (2.5 * v.eps) / 10, limit: v.limit, acrossRanks: o.acrossRanks });
}

export function modelFor(c: TrainConfig, ds: ImageDataset, device?: Device): ImageClassifier {
  return createModel({ arch: c.arch, inputShape: ds.imageShape, numClasses: ds.classNames.length, width: c.width, ...(c.batchNorm === false ? { batchNorm: false } : {}),
    normalization: ds.normalization }, { generator: derivedGenerator(c.seed, 0xc0de), device });
}

/** What rank 0 tells the other ranks of a data-parallel run before the first step. */
interface Plan {
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

/**
 * Trains (or resumes) a run in `opts.out`; writes model, metrics and checkpoints there. The
 * folder is locked while it runs: a second writer is refused before it touches anything.
 *
 * In a process group (world size above 1) every rank calls it with the same arguments: rank
 * 0 alone locks and writes the folder and decides the settings (a resumed run's saved ones),
 * the others receive them, the weights and the optimizer state from it; each rank trains on
 * its share of every batch of `config.batchSize`, which is the global batch, so a run can
 * resume with another number of processes and take the same steps.
 */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  if (getWorldSize() > 1 && getRank() !== 0) return trainLocked(config, opts, awaitAnnouncement<Plan>('training'));
  return leadAnnouncing<Plan, TrainResult>((announce) => withOutputLock(opts.out, `train ${opts.resume ? '--resume' : config.method}`, async () => {
    recoverOutput(opts.out);
    // A new run over a finished one is trained beside it and swapped in when complete, so an
    // interrupted or failed run never costs the finished one; `--resume` continues it there.
    const staging = stagingPath(opts.out);
    const staged = opts.resume ? existsSync(join(staging, CONFIG_FILE)) : !!opts.force && existsSync(join(opts.out, MANIFEST_FILE));
    if (!staged) return trainLocked(config, opts, null, announce);
    if (!opts.resume) rmSync(staging, { recursive: true, force: true });
    const r = await trainLocked(config, { ...opts, out: staging, force: false }, null, announce);
    if (r.completed) swapIn(staging, opts.out);
    return r;
  }));
}

/**
 * The run itself. Rank 0 (or a lone process) has `plan` null and reads or writes the folder;
 * another rank gets the plan and touches no file.
 */
async function trainLocked(config: TrainConfig, opts: TrainOptions, plan: Plan | null,
  announce?: (plan: Plan) => void): Promise<TrainResult> {
  const lead = plan === null;
  const parallel = getWorldSize() > 1;
  if (lead) prepareRunDir(opts.out, opts);
  const c = plan ? plan.config : opts.resume ? readConfig(opts.out) : config;
  try {
    checkConfig(c);
  } catch (e) {
    if (!opts.resume || !lead) throw e;
    throw new Error(`${join(opts.out, CONFIG_FILE)} is damaged (${(e as Error).message}): the run's settings are lost; start over with --force`);
  }
  const log = lead ? opts.log ?? (() => {}) : () => {};
  const onProgress = lead ? opts.onProgress : undefined;
  const trainSet = await openDataset(c.dataset, 'train', { data: c.data, classes: c.classes, limit: c.limit, imageSize: c.imageSize });
  // an image folder's test split takes the training classes' labels, whichever folders it holds
  const testClasses = c.classes ?? (c.dataset === 'imagenet' ? { source: `the training split of ${c.data}`, names: trainSet.classNames } : undefined);
  const testSet = await openDataset(c.dataset, 'test', { data: c.data, classes: testClasses, limit: c.testLimit, imageSize: c.imageSize });
  const model = modelFor(c, trainSet, opts.device);
  const device = model.device;
  const half = autocastDtype(c.precision ?? 'fp32');
  if (half === 'float16' && !isCuda(device)) throw new Error('--precision fp16 needs a CUDA device (use bf16 on the CPU)');
  const scaler = half === 'float16' ? new GradScaler() : null;
  try {
    if (c.method === 'sensitivity' && c.regularizer!.topK > model.featureDim) {
      throw new RangeError(`--top-k ${c.regularizer!.topK} is larger than the model's ${model.featureDim} features`);
    }
    if (c.syncBn) {
      // a lone process uses the ranks' kernel too, so runs on 1 and N processes agree
      convertSyncBatchNorm(model);
      // every rank joins every synchronised layer, so none may be left without rows
      const last = trainSet.length % c.batchSize;
      if (parallel && last > 0 && last < getWorldSize()) {
        throw new Error(`--sync-bn: the last batch holds ${last} inputs, fewer than the ${getWorldSize()} ranks; change --batch-size or --limit`);
      }
    }
    const opt = new SGD(model.parameters(), { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
    const schedule = makeSchedule(c, batchCount(trainSet, c.batchSize));
    const ctx: StepContext = { model, opt, config: c, device, half, scaler, parallel };
    let startEpoch = 0;
    let step = 0;
    let metrics: EpochMetrics[] = [];
    let bestEpoch: number | undefined;
    let restoredState = false;
    if (plan) {
      ({ startEpoch, step, bestEpoch, metrics } = plan);
      if (plan.done) return { config: c, metrics, final: null, completed: true };
      if (scaler && plan.gradScale) scaler.loadState(plan.gradScale);
    } else if (opts.resume) {
      const ck = findCheckpoints(opts.out);
      if (ck.length) {
        const restored = restore(ck, model, opt, c.epochs, log);
        ({ epoch: startEpoch, step, bestEpoch } = restored);
        restoredState = true;
        if (scaler && restored.gradScale) scaler.loadState(restored.gradScale);
        if (restored.metrics) writeMetrics(opts.out, restored.metrics);
        log(`resuming ${opts.out} after epoch ${startEpoch} of ${c.epochs}`);
      } else if (existsSync(join(opts.out, MANIFEST_FILE))) {
        const done = readMetrics(opts.out);
        log(`${opts.out} already holds the finished run (${done.length} epochs): nothing to resume`);
        announce?.({ config: c, startEpoch: c.epochs, step, metrics: done, optimizerState: false, done: true });
        return { config: c, metrics: done, final: null, completed: true };
      } else {
        log(`no checkpoint in ${opts.out}: starting from epoch 1`);
      }
      metrics = readMetrics(opts.out).filter((m) => m.epoch <= startEpoch);
    } else {
      writeConfig(opts.out, c);
    }
    if (parallel) {
      if (lead) {
        announce!({ config: c, startEpoch, step, ...(bestEpoch === undefined ? {} : { bestEpoch }), metrics,
          ...(scaler ? { gradScale: scaler.state() } : {}), optimizerState: restoredState });
      }
      // every rank starts from rank 0's weights, buffers and momentum
      broadcastParameters(model);
      if (lead ? restoredState : plan!.optimizerState) {
        const state = broadcastBytes(lead ? opt.saveState() : null);
        if (!lead) opt.loadState(Buffer.from(state.buffer, state.byteOffset, state.byteLength));
      }
    }
    const across = { acrossRanks: parallel };
    let epochsThisCall = 0;
    for (let epoch = startEpoch; epoch < c.epochs; epoch++) {
      if (opts.stopAfterEpochs !== undefined && epochsThisCall >= opts.stopAfterEpochs) {
        return { config: c, metrics, final: null, completed: false };
      }
      const t0 = performance.now();
      manualSeed(Number(derivedGenerator(c.seed, epoch, 3).initialSeed % 2n ** 52n));
      model.train();
      const t = await trainEpoch(ctx, trainSet, epoch, step, schedule,
        (p) => onProgress?.({ ...p, phase: 'train', epoch: epoch + 1, epochs: c.epochs }));
      step = t.step;
      const ev = await evaluate(model, testSet, {
        ...across, onProgress: (p) => onProgress?.({ ...p, phase: 'test', epoch: epoch + 1, epochs: c.epochs }),
      });
      const trainSeconds = (performance.now() - t0) / 1000;
      const v = c.validation.limit > 0 ? await validationAttack(model, testSet, c, across) : null;
      const m: EpochMetrics = { epoch: epoch + 1, loss: t.lossSum / t.seen, trainAccuracy: t.correct / t.seen, testAccuracy: ev.accuracy,
        testLoss: ev.loss, pgdSuccessRate: v?.successRate ?? null, pgdRobustAccuracy: v?.robustAccuracy ?? null, lr: t.lr,
        seconds: (performance.now() - t0) / 1000, trainSeconds };
      metrics.push(m);
      // Ties keep the earlier epoch, as the reference's strict comparison does.
      let best: 'model' | 'previous' | undefined;
      if (c.keep === 'best-robust') {
        const kept = bestEpoch === undefined ? undefined : metrics.find((x) => x.epoch === bestEpoch);
        best = !kept || m.pgdRobustAccuracy! > kept.pgdRobustAccuracy! ? 'model' : 'previous';
        if (best === 'model') bestEpoch = epoch + 1;
      }
      if (lead) {
        saveCheckpoint(opts.out, model, opt, { epoch: epoch + 1, step, ...(scaler ? { gradScale: scaler.state() } : {}),
          ...(bestEpoch === undefined ? {} : { bestEpoch }) }, metrics, best);
        writeMetrics(opts.out, metrics);
      }
      epochsThisCall++;
      log(epochLine(m, c));
    }
    if (c.keep === 'best-robust') {
      if (lead) {
        const ck = findCheckpoint(opts.out);
        if (!ck || bestEpoch === undefined) throw new Error(`${opts.out}: the last checkpoint does not hold the kept weights; rerun with --force`);
        loadBestWeights(ck, model);
      }
      if (parallel) broadcastParameters(model);
      log(`keeping the weights of epoch ${bestEpoch} (highest adversarial validation accuracy, ` +
        `${(100 * metrics[bestEpoch! - 1]!.pgdRobustAccuracy!).toFixed(1)}%)`);
    }
    const kept = c.keep === 'best-robust' ? metrics[bestEpoch! - 1]! : metrics.at(-1);
    const final = await evaluate(model, testSet, across);
    if (lead) {
      saveModel(opts.out, model, {
        dataset: c.dataset, classNames: trainSet.classNames, method: c.method, training: c, device,
        metrics: { testAccuracy: final.accuracy, testLoss: final.loss, epochs: c.epochs, keptEpoch: kept?.epoch ?? c.epochs,
          pgdSuccessRate: kept?.pgdSuccessRate ?? null,
          seconds: metrics.reduce((a, m) => a + m.seconds, 0) },
      });
      removeCheckpoints(opts.out);
    }
    return { config: c, metrics, final, completed: true };
  } finally {
    model.dispose();
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

/** The log line of a finished epoch. */
export function epochLine(m: EpochMetrics, c: TrainConfig): string {
  return `epoch ${m.epoch}/${c.epochs}: loss ${m.loss.toFixed(4)}, train accuracy ${(100 * m.trainAccuracy).toFixed(2)}%, ` +
    `test accuracy ${(100 * m.testAccuracy).toFixed(2)}%` +
    (m.pgdSuccessRate === null ? '' : `, L2 PGD success ${(100 * m.pgdSuccessRate).toFixed(1)}%` +
      (m.pgdRobustAccuracy == null ? '' : `, adversarial accuracy ${(100 * m.pgdRobustAccuracy).toFixed(1)}%`) + ` (eps ${c.validation.eps})`) +
    `, lr ${m.lr.toExponential(2)}, ${m.seconds.toFixed(1)} s`;
}
