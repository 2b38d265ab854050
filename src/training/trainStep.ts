// One training step and one pass over the training set, apart from everything else a run
// does (checkpoints, metrics, logging, evaluation), so that a device, a gradient all-reduce
// between backward and the optimizer step, or a second process fit in one place.
import { performance } from 'node:perf_hooks';
import type { Batch, ImageDataset } from '../data/dataset.js';
import { batches, batchCount } from '../data/loader.js';
import { pgdAttack } from '../attacks/pgd.js';
import type { ImageClassifier } from '../models/classifier.js';
import * as F from '../nn/functional.js';
import type { GradScaler } from '../optim/gradScaler.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LRSchedule } from '../optim/schedules.js';
import type { Progress } from '../progress.js';
import { noGrad } from '../tensor/autograd.js';
import { zeros } from '../tensor/creation.js';
import { autocast, type Device } from '../tensor/device.js';
import { scope } from '../tensor/scope.js';
import { stack, type Tensor } from '../tensor/tensor.js';
import type { TrainConfig } from './config.js';
import { sensitivityRegularizer } from './sensitivityRegularizer.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { sumAcrossRanks } from '../tensor/collectives.js';
import { allReduceGradients, broadcastBuffers } from './dataParallel.js';
import { testPause } from '../serialization/testPause.js';

/** What a step needs besides the batch. */
export interface StepContext {
  model: ImageClassifier;
  opt: Optimizer;
  config: TrainConfig;
  device: Device;
  /** Autocast dtype, or null for float32. */
  half: 'bfloat16' | 'float16' | null;
  /** Loss scaling (fp16). */
  scaler: GradScaler | null;
  /** Runs between backward and the optimizer step (a gradient all-reduce goes here). */
  afterBackward?: () => void;
  /**
   * Data-parallel: this process is one rank of the process group; it trains on its share of
   * every global batch, and gradients and epoch totals are reduced across ranks.
   */
  parallel?: boolean;
}

/** PGD examples for a training batch, crafted in eval mode (Madry et al.'s recipe). */
export function adversarialBatch(model: ImageClassifier, b: Batch, c: TrainConfig, epoch: number): Tensor {
  const a = c.adversarial!;
  // a different random start every epoch: seed from (run seed, epoch)
  const out = pgdAttack(
    model,
    { images: b.images, labels: b.labels, indices: b.indices },
    {
      norm: a.norm,
      eps: a.eps,
      iterations: a.steps,
      restarts: 1,
      randomStart: true,
      seed: c.seed * 7919 + epoch,
      precision: c.precision,
      against: 'label',
      earlyStop: false,
    },
  );
  model.train();
  return out.adversarial;
}

/**
 * One optimizer step on a batch of the run's method (standard, PGD examples, the sensitivity
 * regularizer). Returns the logits and the float32 loss, inside the caller's scope.
 * `weight` multiplies the loss before backward: a rank holding n of a global batch of N
 * weighs its mean loss by world * n / N, so that the averaged gradients are the global
 * batch's mean gradient even when ranks hold unequal shares (the regularizer's T1, the same
 * on every rank, is then counted once in total). A rank with no rows (a last batch smaller
 * than the world) only joins the reduction.
 */
export function trainStep(ctx: StepContext, b: Batch, epoch: number, weight = 1): { logits: Tensor; loss: Tensor } | null {
  const { model, opt, config: c } = ctx;
  if (b.indices.length === 0) {
    opt.zeroGrad();
    ctx.afterBackward?.();
    if (ctx.scaler) ctx.scaler.step(opt);
    else opt.step();
    return null;
  }
  const images = c.method === 'pgd' ? adversarialBatch(model, b, c, epoch) : b.images;
  opt.zeroGrad();
  const { logits, loss } = autocast(ctx.device, ctx.half, () => {
    const { logits, features } = model.forward(images);
    let loss = F.crossEntropy(logits, b.labels);
    if (c.method === 'sensitivity') {
      loss = loss.add(sensitivityRegularizer(features, model.classifier.weight, b.labels, c.regularizer!).total);
    }
    return { logits, loss: loss.float() };
  });
  const weighted = weight === 1 ? loss : loss.mul(weight);
  (ctx.scaler ? ctx.scaler.scaleLoss(weighted) : weighted).backward();
  ctx.afterBackward?.();
  if (ctx.scaler) ctx.scaler.step(opt);
  else opt.step();
  return { logits, loss };
}

export interface EpochTotals {
  /** Sum over samples of the batch loss, and of correct predictions. */
  lossSum: number;
  correct: number;
  seen: number;
  /** Learning rate of the epoch's last step, and the step count after it. */
  lr: number;
  step: number;
}

// Progress lines are redrawn at most this often, so a GPU step is not held up by a host read.
const PROGRESS_MS = 250;

/** One pass over the shuffled, augmented training set, from optimizer step `step`. */
export async function trainEpoch(
  ctx: StepContext,
  trainSet: ImageDataset,
  epoch: number,
  step: number,
  schedule: LRSchedule,
  onProgress?: (p: Progress) => void,
): Promise<EpochTotals> {
  const c = ctx.config;
  const steps = batchCount(trainSet, c.batchSize);
  const world = ctx.parallel ? getWorldSize() : 1;
  const shard = world > 1 ? { rank: getRank(), world } : undefined;
  // DDP's recipe: rank 0's buffers (batch-norm running statistics) before every step, the
  // gradients averaged after backward
  const buffers = shard ? ctx.model.namedBuffers().length > 0 : false;
  const stepCtx = shard
    ? {
        ...ctx,
        afterBackward: () => {
          ctx.afterBackward?.();
          allReduceGradients(ctx.model.parameters());
        },
      }
    : ctx;
  // Running loss and accuracy stay on the device (float64: the same sums as host doubles);
  // the host reads them only when the progress line is redrawn.
  const sums = zeros([2], { dtype: 'float64', device: ctx.device }).keep();
  let seen = 0;
  let lr = schedule.lr(step);
  let shown = 0;
  try {
    for await (const b of batches(trainSet, {
      batchSize: c.batchSize,
      shuffle: true,
      seed: c.seed,
      epoch,
      augment: c.augment,
      device: ctx.device,
      shard,
    })) {
      testPause(`train epoch ${epoch + 1} batch ${b.batch}`);
      lr = schedule.lr(step);
      ctx.opt.lr = lr;
      if (buffers) broadcastBuffers(ctx.model);
      scope(() => {
        const n = b.indices.length;
        const r = trainStep(stepCtx, b, epoch, shard ? (world * n) / b.globalSize : 1);
        if (r)
          noGrad(() => {
            const { logits, loss } = r;
            const right = logits.argmax(1).eq(b.labels).sum().to('float64');
            sums.add_(stack([loss.detach().to('float64').mul(n), right]));
          });
        seen += n;
        b.images.dispose();
        b.labels.dispose();
      });
      step++;
      const now = performance.now();
      if (onProgress && (now - shown > PROGRESS_MS || b.batch + 1 === steps)) {
        shown = now;
        const [l, r] = sums.toNumbers() as [number, number];
        onProgress({ done: b.batch + 1, total: steps, stats: { loss: l / seen, acc: r / seen, lr } });
      }
    }
    const local = [...sums.toNumbers(), seen];
    const [lossSum, correct, all] = (shard ? sumAcrossRanks(local) : local) as [number, number, number];
    return { lossSum, correct, seen: all, lr, step };
  } finally {
    sums.dispose();
  }
}
