// The shape every attack shares: a config in, one record per attacked row out.
import type { Norm } from './threat.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Precision } from '../tensor/device.js';
import type { AnyModule } from '../nn/module.js';
import { withFoldedBatchNorm } from '../nn/foldBatchNorm.js';

/**
 * The settings every iterative attack shares: the threat model (norm, eps on pixels in [0, 1]), iterations, step size, seed and precision.
 */
export interface BudgetConfig {
  norm: Norm;
  eps: number;
  iterations: number;
  /** Default 2.5 * eps / iterations. */
  stepSize?: number;
  seed: number;
  /**
   * fp32 (default), or autocast the model's forward and backward to bf16 / fp16. Budgets,
   * projections and the returned examples stay float32, and success is judged in float32.
   */
  precision?: Precision;
  /**
   * Fold each batch norm into the convolution before it while iterating (default true; eval
   * mode makes batch norm a per-channel affine map): the same model up to float32 rounding,
   * with cheaper steps (BENCHMARKS.md, "Attack step: batch norm folded into the convolutions").
   * The clean and the final predictions, which decide success, come from the model as given.
   */
  foldBatchNorm?: boolean;
}

/** Runs an attack's iterations with batch norm folded in, unless the config says not to. */
export function iterating<T>(model: AnyModule, c: BudgetConfig, fn: () => T): T {
  return c.foldBatchNorm === false ? fn() : withFoldedBatchNorm(model, fn);
}

/**
 * One attacked input's outcome, as every attack returns it and samples.csv holds it: predictions, success and
 * the perturbation's L2 and Linf norms (pixels in [0, 1]).
 */
export interface SampleRecord {
  /** Position of the input in the attacked data set. */
  index: number;
  label: number;
  cleanPrediction: number;
  adversarialPrediction: number;
  success: boolean;
  l2: number;
  linf: number;
  /** Restart and iteration of the kept iterate (iteration 0 = the start point). */
  restart: number;
  iteration: number;
}

/** One neuron attack of a k-NS run: one neuron of one input attacked alone (docs/glossary.md). */
export interface NeuronRecord extends SampleRecord {
  /** The attacked neuron, its rank for this input (1 = most sensitive) and its Delta. */
  neuron: number;
  rank: number;
  delta: number;
  /**
   * Delta achieved: whether the neuron reached z_i + Delta (>= for Delta >= 0, <= for Delta < 0);
   * an infinite Delta (no change of this neuron alone flips the prediction) counts as not reached.
   */
  deltaAchieved: boolean;
  /**
   * Whether the neuron was active (z_i(x) > 0) on the clean input. Behind a true ReLU an
   * inactive target has zero gradient, so its attack cannot leave the clean image.
   */
  active: boolean;
}

/**
 * A batch to attack: images float32 [B, C, H, W] in [0, 1], labels int64 [B], and each row's data-set position.
 */
export interface AttackBatch {
  images: Tensor;
  labels: Tensor;
  /** Data-set positions of the rows (seed the random starts). */
  indices: number[];
  /** Target classes for a targeted attack. */
  targets?: Tensor;
}

/**
 * What an attack returns for a batch: one record per attacked row and the adversarial examples [rows, C, H, W] (the caller disposes them).
 */
export interface AttackOutput<R extends SampleRecord = SampleRecord> {
  records: R[];
  /** Adversarial examples, one row per record. */
  adversarial: Tensor;
  /** k-NS: neuron attacks that stopped after the first gradient (they could not move). */
  frozenRows?: number;
  /**
   * Early-stopped PGD: inputs whose first fooling iterate no longer fooled when judged by the
   * model as given, attacked again with the full protocol.
   */
  rejudged?: number;
}

export function defaultStepSize(c: BudgetConfig): number {
  return c.stepSize ?? (2.5 * c.eps) / c.iterations;
}

export function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
}
