// Standard training of a zoo model on a data set, with per-epoch evaluation, metrics,
// checkpoints and exact resume.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Batch, ImageDataset } from '../data/dataset.js';
import { batches, batchCount, derivedGenerator } from '../data/loader.js';
import { openDataset, subset } from '../data/registry.js';
import { pgdAttack } from '../attacks/pgd.js';
import type { Tensor } from '../tensor/tensor.js';
import { sensitivityRegularizer } from './sensitivityRegularizer.js';
import type { ImageClassifier } from '../models/classifier.js';
import { createModel } from '../models/zoo.js';
import * as F from '../nn/functional.js';
import { SGD } from '../optim/optimizer.js';
import { ConstantLR, CosineLR, OneCycleLR, StepLR, type LRSchedule } from '../optim/schedules.js';
import { MANIFEST_FILE, saveModel } from '../serialization/modelFiles.js';
import { noGrad } from '../tensor/autograd.js';
import { manualSeed } from '../tensor/random.js';
import { scope } from '../tensor/scope.js';
import { findCheckpoint, loadCheckpoint, removeCheckpoints, saveCheckpoint, type CheckpointState } from './checkpoint.js';
import { autocast, autocastDtype, isCuda, type Device } from '../tensor/device.js';
import { zeros } from '../tensor/creation.js';
import { stack } from '../tensor/tensor.js';
import { GradScaler } from '../optim/gradScaler.js';

// Progress lines are redrawn at most this often, so a GPU step is not held up by a host read.
const PROGRESS_MS = 250;
import type { TrainConfig } from './config.js';
import { evaluate, type Evaluation, type Progress } from './evaluate.js';
import { prepareRunDir, readConfig, readMetrics, writeConfig, writeMetrics, type EpochMetrics } from './runDir.js';

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
  posInt('batch size', c.batchSize);
  if (!(c.lr > 0)) throw new RangeError(`learning rate must be positive, got ${c.lr}`);
  if (!(c.momentum >= 0 && c.momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${c.momentum}`);
  if (!(c.weightDecay >= 0)) throw new RangeError(`weight decay must be non-negative, got ${c.weightDecay}`);
  if (!Number.isInteger(c.seed) || c.seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${c.seed}`);
}

/** PGD examples for a training batch, crafted in eval mode (Madry et al.'s recipe). */
function adversarialBatch(model: ImageClassifier, b: Batch, c: TrainConfig, epoch: number): Tensor {
  const a = c.adversarial!;
  // a different random start every epoch: seed from (run seed, epoch)
  const out = pgdAttack(model, { images: b.images, labels: b.labels, indices: b.indices },
    { norm: a.norm, eps: a.eps, iterations: a.steps, restarts: 1, randomStart: true, seed: c.seed * 7919 + epoch, precision: c.precision });
  model.train();
  return out.adversarial;
}

/** L2 PGD success rate on the first `validation.limit` test inputs (fixed subset, no random start). */
export async function validationAttack(model: ImageClassifier, testSet: ImageDataset, c: TrainConfig): Promise<number> {
  const v = c.validation;
  const subsetSet = subset(testSet, { limit: Math.min(v.limit, testSet.length) });
  let hit = 0;
  let n = 0;
  for await (const b of batches(subsetSet, { batchSize: 256, device: model.device })) {
    scope(() => {
      const out = pgdAttack(model, b, { norm: 'l2', eps: v.eps, iterations: v.steps, restarts: 1, randomStart: false, seed: 0 });
      hit += out.records.filter((r) => r.success).length;
      n += out.records.length;
      b.images.dispose();
      b.labels.dispose();
    });
  }
  return n ? hit / n : 0;
}

export function modelFor(c: TrainConfig, ds: ImageDataset, device?: Device): ImageClassifier {
  return createModel({ arch: c.arch, inputShape: ds.imageShape, numClasses: ds.classNames.length, width: c.width,
    normalization: ds.normalization }, { generator: derivedGenerator(c.seed, 0xc0de), device });
}

/** Trains (or resumes) a run in `opts.out`; writes model, metrics and checkpoints there. */
export async function train(config: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  prepareRunDir(opts.out, opts);
  const c = opts.resume ? readConfig(opts.out) : config;
  checkConfig(c);
  const log = opts.log ?? (() => {});
  const trainSet = await openDataset(c.dataset, 'train', { data: c.data, limit: c.limit, imageSize: c.imageSize });
  const testSet = await openDataset(c.dataset, 'test', { data: c.data, limit: c.testLimit, imageSize: c.imageSize });
  const model = modelFor(c, trainSet, opts.device);
  const device = model.device;
  const half = autocastDtype(c.precision ?? 'fp32');
  if (half === 'float16' && !isCuda(device)) throw new Error('--precision fp16 needs a CUDA device (use bf16 on the CPU)');
  const scaler = half === 'float16' ? new GradScaler() : null;
  try {
    if (c.method === 'sensitivity' && c.regularizer!.topK > model.featureDim) {
      throw new RangeError(`--top-k ${c.regularizer!.topK} is larger than the model's ${model.featureDim} features`);
    }
    const opt = new SGD(model.parameters(), { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
    const steps = batchCount(trainSet, c.batchSize);
    const schedule = makeSchedule(c, steps);
    let startEpoch = 0;
    let step = 0;
    let metrics: EpochMetrics[] = [];
    if (opts.resume) {
      const ck = findCheckpoint(opts.out);
      if (ck) {
        let gradScale: CheckpointState['gradScale'];
        ({ epoch: startEpoch, step, gradScale } = loadCheckpoint(ck, model, opt));
        if (scaler && gradScale) scaler.loadState(gradScale);
        log(`resuming ${opts.out} after epoch ${startEpoch} of ${c.epochs}`);
      } else if (existsSync(join(opts.out, MANIFEST_FILE))) {
        const done = readMetrics(opts.out);
        log(`${opts.out} already holds the finished run (${done.length} epochs): nothing to resume`);
        return { config: c, metrics: done, final: null, completed: true };
      } else {
        log(`no checkpoint in ${opts.out}: starting from epoch 1`);
      }
      metrics = readMetrics(opts.out).filter((m) => m.epoch <= startEpoch);
    } else {
      writeConfig(opts.out, c);
    }
    let epochsThisCall = 0;
    for (let epoch = startEpoch; epoch < c.epochs; epoch++) {
      if (opts.stopAfterEpochs !== undefined && epochsThisCall >= opts.stopAfterEpochs) {
        return { config: c, metrics, final: null, completed: false };
      }
      const t0 = performance.now();
      manualSeed(Number(derivedGenerator(c.seed, epoch, 3).initialSeed % 2n ** 52n));
      model.train();
      // Running loss and accuracy stay on the device (float64, the same sums as before);
      // the host reads them only when the progress line is redrawn.
      const sums = zeros([2], { dtype: 'float64', device }).keep();
      let seen = 0;
      let lr = schedule.lr(step);
      let shown = 0;
      let lossSum = 0;
      let correct = 0;
      try {
        for await (const b of batches(trainSet, { batchSize: c.batchSize, shuffle: true, seed: c.seed, epoch, augment: c.augment, device })) {
          lr = schedule.lr(step);
          opt.lr = lr;
          scope(() => {
            const images = c.method === 'pgd' ? adversarialBatch(model, b, c, epoch) : b.images;
            opt.zeroGrad();
            const { logits, loss } = autocast(device, half, () => {
              const { logits, features } = model.forward(images);
              let loss = F.crossEntropy(logits, b.labels);
              if (c.method === 'sensitivity') {
                loss = loss.add(sensitivityRegularizer(features, model.classifier.weight, b.labels, c.regularizer!).total);
              }
              return { logits, loss: loss.float() };
            });
            if (scaler) {
              scaler.scaleLoss(loss).backward();
              scaler.step(opt);
            } else {
              loss.backward();
              opt.step();
            }
            const n = b.indices.length;
            noGrad(() => {
              const right = logits.argmax(1).eq(b.labels).sum().to('float64');
              sums.add_(stack([loss.detach().to('float64').mul(n), right]));
            });
            seen += n;
            b.images.dispose();
            b.labels.dispose();
          });
          step++;
          const now = performance.now();
          if (opts.onProgress && (now - shown > PROGRESS_MS || b.batch + 1 === steps)) {
            shown = now;
            const [l, r] = sums.toNumbers() as [number, number];
            opts.onProgress({ phase: 'train', epoch: epoch + 1, epochs: c.epochs, done: b.batch + 1, total: steps,
              stats: { loss: l / seen, acc: r / seen, lr } });
          }
        }
      } finally {
        [lossSum, correct] = sums.toNumbers() as [number, number];
        sums.dispose();
      }
      const ev = await evaluate(model, testSet, {
        onProgress: (p) => opts.onProgress?.({ ...p, phase: 'test', epoch: epoch + 1, epochs: c.epochs }),
      });
      const trainSeconds = (performance.now() - t0) / 1000;
      const pgdSuccessRate = c.validation.limit > 0 ? await validationAttack(model, testSet, c) : null;
      const m: EpochMetrics = { epoch: epoch + 1, loss: lossSum / seen, trainAccuracy: correct / seen, testAccuracy: ev.accuracy,
        testLoss: ev.loss, pgdSuccessRate, lr, seconds: (performance.now() - t0) / 1000, trainSeconds };
      metrics.push(m);
      saveCheckpoint(opts.out, model, opt, { epoch: epoch + 1, step, ...(scaler ? { gradScale: scaler.state() } : {}) });
      writeMetrics(opts.out, metrics);
      epochsThisCall++;
      log(`epoch ${m.epoch}/${c.epochs}: loss ${m.loss.toFixed(4)}, train accuracy ${(100 * m.trainAccuracy).toFixed(2)}%, ` +
        `test accuracy ${(100 * m.testAccuracy).toFixed(2)}%` +
        (pgdSuccessRate === null ? '' : `, L2 PGD success ${(100 * pgdSuccessRate).toFixed(1)}% (eps ${c.validation.eps})`) +
        `, lr ${m.lr.toExponential(2)}, ${m.seconds.toFixed(1)} s`);
    }
    const final = await evaluate(model, testSet);
    saveModel(opts.out, model, {
      dataset: c.dataset, classNames: trainSet.classNames, method: c.method, training: c, device,
      metrics: { testAccuracy: final.accuracy, testLoss: final.loss, epochs: c.epochs,
        pgdSuccessRate: metrics.at(-1)?.pgdSuccessRate ?? null,
        seconds: metrics.reduce((a, m) => a + m.seconds, 0) },
    });
    removeCheckpoints(opts.out);
    return { config: c, metrics, final, completed: true };
  } finally {
    model.dispose();
  }
}
