// Training configuration and the per-data-set defaults.
import type { AugmentOptions } from '../data/augment.js';
import type { Precision } from '../tensor/device.js';

/** A learning-rate schedule by name: constant, step decay, cosine annealing or one-cycle. */
export type ScheduleName = 'constant' | 'step' | 'cosine' | 'onecycle';
/** Every schedule name. */
export const SCHEDULES: readonly ScheduleName[] = ['constant', 'step', 'cosine', 'onecycle'];

/**
 * Which weights a run keeps: those of the last epoch, or those of the epoch with the highest
 * robust accuracy under the validation attack (the reference's criterion for its
 * sensitivity-trained model; selected on the first test inputs, as the reference does).
 */
export type KeepName = 'last' | 'best-robust';
/** Every choice of kept weights. */
export const KEEPS: readonly KeepName[] = ['last', 'best-robust'];

/**
 * How a model is trained: cross-entropy alone, PGD adversarial training, or with the sensitivity regularizer.
 */
export type MethodName = 'standard' | 'pgd' | 'sensitivity';
/** Every training method. */
export const METHODS: readonly MethodName[] = ['standard', 'pgd', 'sensitivity'];

/** PGD adversarial training (Madry et al.): train on PGD examples crafted in eval mode. */
export interface AdversarialSettings {
  norm: 'l2' | 'linf';
  eps: number;
  steps: number;
}

/** The sensitivity regularizer: cross-entropy + delta1 * T1 + delta2 * T2. */
export interface RegularizerSettings {
  topK: number;
  delta1: number;
  delta2: number;
}

/**
 * The L2 PGD attack run every epoch on a fixed validation subset, as the reference does: no
 * random start, step 2.5 * eps / 10 whatever the number of steps (the reference's setting).
 */
export interface ValidationAttack {
  eps: number;
  steps: number;
  /** First N test inputs (0 = off). */
  limit: number;
}

/**
 * Everything a training run is made of (config.json records it): data, architecture, method, optimizer, schedule, seed.
 */
export interface TrainConfig {
  method: MethodName;
  adversarial?: AdversarialSettings;
  regularizer?: RegularizerSettings;
  validation: ValidationAttack;
  dataset: string;
  /** Folder of the data set (absent for the embedded Fashion-MNIST). */
  data?: string;
  /** Image folders: the class list (--classes) giving each folder's label. */
  classes?: string;
  arch: string;
  width: number;
  /** false: the architecture without batch norm (small-cnn, VGG). */
  batchNorm?: false;
  /** Data-parallel runs: batch-norm statistics over every rank's share of the batch (default: each rank's own). */
  syncBn?: true;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: ScheduleName;
  /** For the step schedule: epochs between decays, and the factor. */
  stepEpochs: number;
  gamma: number;
  seed: number;
  augment: AugmentOptions;
  /** Train / test on the first N samples only. */
  limit?: number;
  testLimit?: number;
  /** Side of folder images (imagenet). */
  imageSize?: number;
  /** fp32 (default), or autocast to bf16 / fp16 (fp16 with loss scaling). */
  precision?: Precision;
  /** Default 'last'. */
  keep?: KeepName;
}

/** A data set's default training settings: a {@link TrainConfig} without the run's own choices. */
export type TrainDefaults = Omit<
  TrainConfig,
  'dataset' | 'data' | 'limit' | 'testLimit' | 'method' | 'adversarial' | 'regularizer' | 'keep'
> & {
  adversarial: AdversarialSettings;
  regularizer: RegularizerSettings;
  /** The reference's recipe for its sensitivity-trained model, over the data set's defaults. */
  sensitivity: { lr?: number; keep: KeepName };
};

/**
 * Defaults chosen per data set; fashion-mnist's for a 2-core machine (BENCHMARKS.md, "Training:
 * time per epoch by method"; docs/results.md).
 */
export const DEFAULTS: Record<string, TrainDefaults> = {
  'fashion-mnist': {
    arch: 'small-cnn',
    width: 0.5,
    epochs: 12,
    batchSize: 128,
    lr: 0.05,
    momentum: 0.9,
    weightDecay: 5e-4,
    schedule: 'onecycle',
    stepEpochs: 4,
    gamma: 0.1,
    seed: 0,
    augment: { cropPadding: 2, hflip: false },
    // A tenth of the reference's regularizer weights (10, 100), which cost this small model
    // clean accuracy that a tenth of them keeps (docs/results.md, "Training methods").
    adversarial: { norm: 'l2', eps: 0.3, steps: 3 },
    regularizer: { topK: 16, delta1: 1, delta2: 10 },
    validation: { eps: 0.3, steps: 20, limit: 256 },
    // Not the reference's best-robust: under this schedule the validation attack's robust
    // accuracy falls as training goes on, for the standard model too, so it would keep an
    // undertrained epoch 1 (docs/results.md, "Keeping the best-robust epoch").
    sensitivity: { keep: 'last' },
  },
  // The reference library's CIFAR recipe: VGG-19, SGD 0.1, step decay, crop + flip.
  cifar10: {
    arch: 'vgg19',
    width: 1,
    epochs: 150,
    batchSize: 128,
    lr: 0.1,
    momentum: 0.9,
    weightDecay: 5e-4,
    schedule: 'step',
    stepEpochs: 50,
    gamma: 0.1,
    seed: 0,
    augment: { cropPadding: 4, hflip: true },
    adversarial: { norm: 'l2', eps: 0.5, steps: 7 },
    regularizer: { topK: 16, delta1: 10, delta2: 100 },
    validation: { eps: 0.5, steps: 20, limit: 1000 },
    sensitivity: { lr: 0.01, keep: 'best-robust' },
  },
  imagenet: {
    arch: 'resnet50-imagenet',
    width: 1,
    epochs: 90,
    batchSize: 256,
    lr: 0.1,
    momentum: 0.9,
    weightDecay: 1e-4,
    schedule: 'step',
    stepEpochs: 30,
    gamma: 0.1,
    seed: 0,
    augment: { cropPadding: 0, hflip: false },
    imageSize: 224,
    adversarial: { norm: 'l2', eps: 3, steps: 3 },
    regularizer: { topK: 16, delta1: 10, delta2: 100 },
    validation: { eps: 3, steps: 20, limit: 500 },
    sensitivity: { keep: 'best-robust' },
  },
};

/** Refuses a configuration no run can train with, naming the setting (a command-line option where there is one). */
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
    for (const [n, v] of [
      ['--delta1', r.delta1],
      ['--delta2', r.delta2],
    ] as const) {
      if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${n} must be a non-negative number, got ${v}`);
    }
  }
  if (!Number.isInteger(c.validation.limit) || c.validation.limit < 0)
    throw new RangeError(`validation limit must be a non-negative integer`);
  if (c.keep !== undefined && c.keep !== 'last' && c.keep !== 'best-robust')
    throw new Error(`unknown --keep '${String(c.keep)}' (last or best-robust)`);
  if (c.keep === 'best-robust' && c.validation.limit === 0)
    throw new Error('--keep best-robust needs the validation attack (--val-limit above 0)');
  posInt('batch size', c.batchSize);
  if (!(c.lr > 0)) throw new RangeError(`learning rate must be positive, got ${c.lr}`);
  if (!(c.momentum >= 0 && c.momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${c.momentum}`);
  if (!(c.weightDecay >= 0)) throw new RangeError(`weight decay must be non-negative, got ${c.weightDecay}`);
  if (!Number.isInteger(c.seed) || c.seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${c.seed}`);
}
