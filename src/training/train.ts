// Training a zoo model on a data set (standard, PGD adversarial or with the sensitivity
// regularizer): the epoch loop with per-epoch evaluation, the validation attack and metrics,
// checkpoints, exact resume (resume.ts) and the folder swap of a replaced run.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ImageDataset } from '../data/dataset.js';
import { batchCount } from '../data/loader.js';
import { openDataset } from '../data/registry.js';
import type { ImageClassifier } from '../models/classifier.js';
import { createModel } from '../models/zoo.js';
import { SGD } from '../optim/optimizer.js';
import { ConstantLR, CosineLR, OneCycleLR, StepLR, type LRSchedule } from '../optim/schedules.js';
import { MANIFEST_FILE, saveModel } from '../models/runFolder.js';
import { derivedGenerator, manualSeed } from '../tensor/random.js';
import { findCheckpoint, loadBestWeights, removeCheckpoints, saveCheckpoint } from './checkpoint.js';
import { autocastDtype, isCuda, type Device } from '../tensor/device.js';
import { GradScaler } from '../optim/gradScaler.js';
import { recoverOutput, stagingPath, swapIn, withOutputLock } from '../serialization/outputDir.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { awaitAnnouncement, leadAnnouncing } from '../tensor/collectives.js';
import { broadcastParameters } from './dataParallel.js';
import { convertSyncBatchNorm } from '../nn/layers.js';

import { checkConfig, type TrainConfig } from './config.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { epochLine } from './metrics.js';
import { shareStart, startPoint, type Plan } from './resume.js';
import { trainEpoch, type StepContext } from './trainStep.js';
import { validationAttack } from './validationAttack.js';
import type { Progress } from '../progress.js';
import { CONFIG_FILE, prepareRunDir, readConfig, writeMetrics, type EpochMetrics } from './runDir.js';

/** Training's progress: batches done in the current epoch's train or test phase. */
export interface TrainProgress extends Progress {
  phase: 'train' | 'test';
  epoch: number;
  epochs: number;
}

/** Options of {@link train}: the run folder, resuming, callbacks, device. */
export interface TrainOptions {
  out: string;
  resume?: boolean;
  force?: boolean;
  /** Called after each batch of training and of the test evaluation. */
  onProgress?: (p: TrainProgress) => void;
  /** Receives a line per epoch (loss, accuracies, the validation attack) and notes on resuming. */
  log?: (line: string) => void;
  /** Stop after this many epochs in this call (tests use it to simulate an interruption). */
  stopAfterEpochs?: number;
  /** Where to train (default the default device). A run can resume on another device. */
  device?: Device;
}

/** What {@link train} returns: the settings trained, every epoch's metrics and the final test evaluation. */
export interface TrainResult {
  config: TrainConfig;
  metrics: EpochMetrics[];
  final: Evaluation | null;
  completed: boolean;
}

export function makeSchedule(c: TrainConfig, stepsPerEpoch: number): LRSchedule {
  const total = c.epochs * stepsPerEpoch;
  switch (c.schedule) {
    case 'constant':
      return new ConstantLR(c.lr);
    case 'step':
      return new StepLR(c.lr, c.stepEpochs * stepsPerEpoch, c.gamma);
    case 'cosine':
      return new CosineLR(c.lr, total);
    case 'onecycle':
      return new OneCycleLR(c.lr, total);
    default:
      throw new Error(`unknown schedule '${String(c.schedule)}'`);
  }
}

export function modelFor(c: TrainConfig, ds: ImageDataset, device?: Device): ImageClassifier {
  return createModel(
    {
      arch: c.arch,
      inputShape: ds.imageShape,
      numClasses: ds.classNames.length,
      width: c.width,
      ...(c.batchNorm === false ? { batchNorm: false } : {}),
      normalization: ds.normalization,
    },
    { generator: derivedGenerator(c.seed, 0xc0de), device },
  );
}

/**
 * Trains (or resumes) a run in `opts.out`; writes model, metrics and checkpoints there. The
 * folder is locked while it runs: a second writer is refused before it touches anything.
 *
 * - `config`: the architecture, data set and recipe (`DEFAULTS[dataset]` holds each data set's),
 *   with the method's settings: `adversarial` for `method: 'pgd'` (PGD examples, eps in the
 *   norm's units on pixels in [0, 1]), `regularizer` for `'sensitivity'` (top-k, delta1, delta2);
 *   `batchSize` inputs per optimizer step, `lr` the base learning rate of `schedule`.
 * - Writes config.json, metrics.jsonl (per epoch: loss, accuracies and the validation attack's
 *   success rate and robust accuracy as fractions, seconds), checkpoint/ while it runs, and
 *   model.safetensors + model.json when done (`loadModel` reads them).
 * - Returns the settings trained (a resumed run's saved ones), every epoch's metrics and the
 *   final test evaluation (null when the run had already finished or stopped early).
 *
 * In a process group (world size above 1) every rank calls it with the same arguments: rank
 * 0 alone locks and writes the folder and decides the settings (a resumed run's saved ones),
 * the others receive them, the weights and the optimizer state from it; each rank trains on
 * its share of every batch of `config.batchSize`, which is the global batch, so a run can
 * resume with another number of processes and take the same steps.
 *
 * @example
 * const config: TrainConfig = { ...DEFAULTS['fashion-mnist']!, method: 'sensitivity', dataset: 'fashion-mnist' };
 * const r = await train(config, { out: 'runs/fm-sensitivity', log: console.log });
 * r.final?.accuracy; // clean test accuracy of the kept weights, a fraction
 */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  if (getWorldSize() > 1 && getRank() !== 0) return trainLocked(config, opts, awaitAnnouncement<Plan>('training'));
  return leadAnnouncing<Plan, TrainResult>((announce) =>
    withOutputLock(opts.out, `train ${opts.resume ? '--resume' : config.method}`, async () => {
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
    }),
  );
}

/**
 * The run itself. Rank 0 (or a lone process) has `plan` null and reads or writes the folder;
 * another rank gets the plan and touches no file.
 */
async function trainLocked(
  config: TrainConfig,
  opts: TrainOptions,
  plan: Plan | null,
  announce?: (plan: Plan) => void,
): Promise<TrainResult> {
  const lead = plan === null;
  const parallel = getWorldSize() > 1;
  if (lead) prepareRunDir(opts.out, opts);
  const c = plan ? plan.config : opts.resume ? readConfig(opts.out) : config;
  try {
    checkConfig(c);
  } catch (e) {
    if (!opts.resume || !lead) throw e;
    throw new Error(
      `${join(opts.out, CONFIG_FILE)} is damaged (${(e as Error).message}): the run's settings are lost; start over with --force`,
    );
  }
  const log = lead ? (opts.log ?? (() => {})) : () => {};
  const onProgress = lead ? opts.onProgress : undefined;
  const trainSet = await openDataset(c.dataset, 'train', { data: c.data, classes: c.classes, limit: c.limit, imageSize: c.imageSize });
  // an image folder's test split takes the training classes' labels, whichever folders it holds
  const testClasses =
    c.classes ?? (c.dataset === 'imagenet' ? { source: `the training split of ${c.data}`, names: trainSet.classNames } : undefined);
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
        throw new Error(
          `--sync-bn: the last batch holds ${last} inputs, fewer than the ${getWorldSize()} ranks; change --batch-size or --limit`,
        );
      }
    }
    const opt = new SGD(model.parameters(), { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
    const schedule = makeSchedule(c, batchCount(trainSet, c.batchSize));
    const ctx: StepContext = { model, opt, config: c, device, half, scaler, parallel };
    const trainee = { model, opt, scaler };
    const start = startPoint(c, opts, plan, trainee, log, announce);
    if (start.done) return { config: c, metrics: start.metrics, final: null, completed: true };
    const { startEpoch, metrics } = start;
    let { step, bestEpoch } = start;
    if (parallel) shareStart(c, start, trainee, plan, announce);
    const across = { acrossRanks: parallel };
    let epochsThisCall = 0;
    for (let epoch = startEpoch; epoch < c.epochs; epoch++) {
      if (opts.stopAfterEpochs !== undefined && epochsThisCall >= opts.stopAfterEpochs) {
        return { config: c, metrics, final: null, completed: false };
      }
      const t0 = performance.now();
      manualSeed(Number(derivedGenerator(c.seed, epoch, 3).initialSeed % 2n ** 52n));
      model.train();
      const t = await trainEpoch(ctx, trainSet, epoch, step, schedule, (p) =>
        onProgress?.({ ...p, phase: 'train', epoch: epoch + 1, epochs: c.epochs }),
      );
      step = t.step;
      const ev = await evaluate(model, testSet, {
        ...across,
        onProgress: (p) => onProgress?.({ ...p, phase: 'test', epoch: epoch + 1, epochs: c.epochs }),
      });
      const trainSeconds = (performance.now() - t0) / 1000;
      const v = c.validation.limit > 0 ? await validationAttack(model, testSet, c, across) : null;
      const m: EpochMetrics = {
        epoch: epoch + 1,
        loss: t.lossSum / t.seen,
        trainAccuracy: t.correct / t.seen,
        testAccuracy: ev.accuracy,
        testLoss: ev.loss,
        pgdSuccessRate: v?.successRate ?? null,
        pgdRobustAccuracy: v?.robustAccuracy ?? null,
        lr: t.lr,
        seconds: (performance.now() - t0) / 1000,
        trainSeconds,
      };
      metrics.push(m);
      // Ties keep the earlier epoch, as the reference's strict comparison does.
      let best: 'model' | 'previous' | undefined;
      if (c.keep === 'best-robust') {
        const kept = bestEpoch === undefined ? undefined : metrics.find((x) => x.epoch === bestEpoch);
        best = !kept || m.pgdRobustAccuracy! > kept.pgdRobustAccuracy! ? 'model' : 'previous';
        if (best === 'model') bestEpoch = epoch + 1;
      }
      if (lead) {
        saveCheckpoint(
          opts.out,
          model,
          opt,
          { epoch: epoch + 1, step, ...(scaler ? { gradScale: scaler.state() } : {}), ...(bestEpoch === undefined ? {} : { bestEpoch }) },
          metrics,
          best,
        );
        writeMetrics(opts.out, metrics);
      }
      epochsThisCall++;
      log(epochLine(m, c));
    }
    if (c.keep === 'best-robust') {
      if (lead) {
        const ck = findCheckpoint(opts.out);
        if (!ck || bestEpoch === undefined)
          throw new Error(`${opts.out}: the last checkpoint does not hold the kept weights; rerun with --force`);
        loadBestWeights(ck, model);
      }
      if (parallel) broadcastParameters(model);
      log(
        `keeping the weights of epoch ${bestEpoch} (highest robust accuracy under the validation attack, ` +
          `${(100 * metrics[bestEpoch! - 1]!.pgdRobustAccuracy!).toFixed(1)}%)`,
      );
    }
    const kept = c.keep === 'best-robust' ? metrics[bestEpoch! - 1]! : metrics.at(-1);
    const final = await evaluate(model, testSet, across);
    if (lead) {
      saveModel(opts.out, model, {
        dataset: c.dataset,
        classNames: trainSet.classNames,
        method: c.method,
        training: c,
        device,
        metrics: {
          testAccuracy: final.accuracy,
          testLoss: final.loss,
          epochs: c.epochs,
          keptEpoch: kept?.epoch ?? c.epochs,
          pgdSuccessRate: kept?.pgdSuccessRate ?? null,
          seconds: metrics.reduce((a, m) => a + m.seconds, 0),
        },
      });
      removeCheckpoints(opts.out);
    }
    return { config: c, metrics, final, completed: true };
  } finally {
    model.dispose();
  }
}
