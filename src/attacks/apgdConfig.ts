// APGD's settings: the config with the reference's defaults, and the checks that turn a bad
// one into one line naming the field, before any work is done.
import type { Tensor } from '../tensor/tensor.js';
import { scope } from '../tensor/scope.js';
import { checkBudget, sampleNorms, type Norm } from './budget.js';
import { checkIterations } from './attackTypes.js';
import type { RobustAttackConfig } from './robustAttackTypes.js';

/** APGD-CE (loss 'ce'), APGD-DLR (loss 'dlr') and APGD-T (loss 'dlr', targeted). */
export interface ApgdConfig extends RobustAttackConfig {
  /** 'ce': cross-entropy (APGD-CE); 'dlr': the DLR loss (APGD-DLR), or with `targeted` its targeted form (APGD-T). */
  loss: 'ce' | 'dlr';
  /** APGD-T: one run per target class, the top `targetClasses` classes but the first by clean logit. */
  targeted?: boolean;
  /** APGD-T: how many target classes (the reference's n_target_classes, default 9). */
  targetClasses?: number;
  /** Iterations per run (the reference's n_iter, default 100). */
  iterations?: number;
  /** Runs per input (and per target), each only for inputs the earlier ones did not fool (default 1). */
  restarts?: number;
  /** The step-size rule's threshold on the fraction of steps that raised the loss (default 0.75). */
  rho?: number;
  /** Forwards whose gradients are averaged per step (the reference's eot_iter, default 1; randomised models). */
  eotIter?: number;
  /** Tests: every run starts from these points [B, C, H, W] (inside the budget) instead of a random start. */
  start?: Tensor;
}

/** The reference's defaults (APGDAttack, APGDAttack_targeted). */
export const APGD_DEFAULTS = { iterations: 100, restarts: 1, rho: 0.75, targetClasses: 9, eotIter: 1 } as const;

const positiveInt = (v: number) => Number.isInteger(v) && v >= 1;

/** Checks the config against the model's class count; throws one line naming the field. */
export function checkApgdConfig(c: ApgdConfig, classes: number): void {
  if ((c.norm as string) === 'l1') {
    throw new Error(
      "APGD: norm 'l1' is not supported (the reference's L1 version, with its sparsity-adaptive step and L1 projection, " +
        "is not implemented); use 'l2' or 'linf'",
    );
  }
  checkBudget(c.norm, c.eps);
  if (c.loss !== 'ce' && c.loss !== 'dlr') throw new Error(`APGD: loss must be 'ce' or 'dlr', got '${String(c.loss)}'`);
  if (c.targeted && c.loss !== 'dlr')
    throw new Error("APGD: a targeted run takes loss 'dlr' (the reference's APGD-T ascends the targeted DLR loss only)");
  checkIterations(c.iterations ?? APGD_DEFAULTS.iterations);
  for (const k of ['restarts', 'targetClasses', 'eotIter'] as const) {
    const v = c[k];
    if (v !== undefined && !positiveInt(v)) throw new RangeError(`APGD: ${k} must be a positive integer, got ${v}`);
  }
  if (c.rho !== undefined && !(c.rho > 0 && c.rho <= 1)) throw new RangeError(`APGD: rho must be in (0, 1], got ${c.rho}`);
  const least = c.targeted ? 4 : c.loss === 'dlr' ? 3 : 2;
  if (classes < least)
    throw new RangeError(
      `APGD: the ${c.targeted ? 'targeted ' : ''}${c.loss} loss needs at least ${least} classes, the model has ${classes}`,
    );
  const targets = c.targetClasses ?? APGD_DEFAULTS.targetClasses;
  if (c.targeted && targets > classes - 1)
    throw new RangeError(`APGD: targetClasses must be at most ${classes - 1} (the classes but the first), got ${targets}`);
}

/** Checks that every start row lies inside the budget around its image; throws one line naming the row. */
export function checkStart(start: Tensor, x: Tensor, norm: Norm, eps: number): void {
  scope(() => {
    const d = sampleNorms(start.clamp(0, 1).sub(x), norm).toArray<'float32'>();
    const bad = d.findIndex((v) => !(v <= eps * (1 + 1e-5) + 1e-6));
    if (bad >= 0) throw new RangeError(`APGD: start row ${bad} lies ${d[bad]} from its image in ${norm}, outside eps ${eps}`);
  });
}
