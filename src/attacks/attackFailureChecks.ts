// Indicators of attack failure after Pintor et al., "Indicators of Attack Failure: Debugging and
// Improving Optimization of Adversarial Examples" (NeurIPS 2022): a working gradient attack
// fools more inputs as its budget grows, fools every input once the budget is unbounded, and
// raises its loss. Each runs a short PGD (cross-entropy against the label, from the clean
// input, no random start: a masked gradient cannot hide behind a lucky start) on inputs the
// model classifies correctly.
import type { ImageClassifier } from '../models/classifier.js';
import { withEval } from '../nn/module.js';
import { scope } from '../tensor/scope.js';
import type { AttackBatch } from './attackTypes.js';
import { crossEntropyObjective } from './losses.js';
import { pgdAttack } from './pgd.js';
import { pgdLoop } from './pgdLoop.js';
import type { Norm } from './threat.js';
import type { CheckResult } from './robustnessChecks.js';

export interface FailureCheckOptions {
  norm: Norm;
  eps: number;
  /** PGD iterations (step 2.5 * eps / iterations). */
  iterations: number;
  /** Inputs looked at, the misclassified among them included (for the messages). */
  checked: number;
}

/** Budget factors of the sweep. */
export const SWEEP = [0.5, 1, 2] as const;

/** An unbounded budget: Linf 1, or an L2 ball of radius sqrt(C * H * W) (the cube's diagonal), holds every image. */
export function unboundedEps(norm: Norm, imageShape: readonly number[]): number {
  return norm === 'linf' ? 1 : Math.sqrt(imageShape.reduce((a, b) => a * b, 1));
}

function fooled(model: ImageClassifier, batch: AttackBatch, norm: Norm, eps: number, iterations: number): number {
  return scope(
    () =>
      pgdAttack(model, batch, { norm, eps, iterations, restarts: 1, randomStart: false, against: 'label', seed: 0 }).records.filter(
        (r) => r.success,
      ).length,
  );
}

function none(id: CheckResult['id'], o: FailureCheckOptions): CheckResult {
  return { id, fired: false, message: `skipped: none of the ${o.checked} inputs checked is classified correctly` };
}

const pct = (x: number) => `${Math.round(100 * x)}%`;

/**
 * Success that does not grow with the budget: PGD at 0.5, 1 and 2 times eps on `batch` (inputs
 * classified correctly). Fires when success falls from one budget to the next, or is no higher
 * at 2 eps than at 0.5 eps while some input withstood 0.5 eps. Costs 3 PGD runs.
 */
export function epsSweepCheck(model: ImageClassifier, batch: AttackBatch, o: FailureCheckOptions): CheckResult {
  const n = batch.indices.length;
  if (!n) return none('eps-sweep', o);
  const rates = SWEEP.map((f) => fooled(model, batch, o.norm, o.eps * f, o.iterations) / n);
  const falls = rates.some((r, k) => k > 0 && r < rates[k - 1]!);
  const flat = rates[2]! <= rates[0]! && rates[0]! < 1;
  const fired = falls || flat;
  const seen = `PGD (${o.iterations} steps) fooled ${rates.map(pct).join(', ')} of ${n} correctly classified inputs at ${SWEEP.join(', ')} x eps`;
  return {
    id: 'eps-sweep',
    fired,
    message: fired
      ? `${seen}: success should grow with the budget; the attack is failing (masked or uninformative gradients, ` +
        'or an eps too small to matter), so do not trust the robust accuracy of the gradient attacks'
      : `${seen}: success grows with the budget`,
  };
}

/**
 * An unbounded budget that does not reach 100%: PGD within a budget that holds every image
 * (unboundedEps) must fool every input classified correctly. Costs 1 PGD run.
 */
export function unboundedBudgetCheck(model: ImageClassifier, batch: AttackBatch, o: FailureCheckOptions): CheckResult {
  const n = batch.indices.length;
  if (!n) return none('unbounded-budget', o);
  const eps = unboundedEps(o.norm, batch.images.shape.slice(1));
  const k = fooled(model, batch, o.norm, eps, o.iterations);
  const seen = `PGD (${o.iterations} steps) with an unbounded budget (${o.norm} eps ${+eps.toFixed(3)}) fooled ${k} of ${n} correctly classified inputs`;
  return {
    id: 'unbounded-budget',
    fired: k < n,
    message:
      k < n
        ? `${seen}: any image is reachable within that budget, so the attack, not the model, is failing ` +
          "(masked gradients, a broken loss); do not trust the gradient attacks' robust accuracy"
        : `${seen}`,
  };
}

/**
 * A loss that does not increase: PGD's cross-entropy at its last iterate against its start,
 * per input classified correctly. Fires when it did not increase for most of them. Costs 1 PGD
 * run of the fixed schedule (every input, every step).
 */
export function lossIncreaseCheck(model: ImageClassifier, batch: AttackBatch, o: FailureCheckOptions): CheckResult {
  const n = batch.indices.length;
  if (!n) return none('loss-increase', o);
  const losses: number[][] = [];
  withEval(model, () =>
    scope(() =>
      pgdLoop({
        x0: batch.images,
        start: batch.images,
        norm: o.norm,
        eps: o.eps,
        stepSize: (2.5 * o.eps) / o.iterations,
        iterations: o.iterations,
        evaluate: (x, rows) => {
          if (rows) throw new Error('lossIncreaseCheck: the loop evaluates every row at once');
          const e = crossEntropyObjective(model.forward(x).logits, batch.labels, false);
          losses.push(e.objective.detach().toNumbers());
          return e;
        },
      }),
    ),
  );
  const first = losses[0]!;
  const last = losses[losses.length - 1]!;
  const stuck = first.filter((l, i) => !(last[i]! > l)).length;
  const fired = stuck > n / 2;
  const seen = `PGD's cross-entropy (${o.iterations} steps) did not increase from its start for ${stuck} of ${n} correctly classified inputs`;
  return {
    id: 'loss-increase',
    fired,
    message: fired
      ? `${seen}: the attack makes no progress (zero or uninformative gradients, too small a step); do not trust the gradient attacks' robust accuracy`
      : seen,
  };
}
