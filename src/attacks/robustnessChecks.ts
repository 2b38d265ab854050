// Checks that a robustness evaluation can be trusted: fra31/auto-attack's checks.py (a random
// model, probabilities instead of logits, zero gradients, Square beating the white-box attacks,
// too few classes for the targets) and indicators of attack failure after Pintor et al.,
// "Indicators of Attack Failure" (NeurIPS 2022), in attackFailureChecks.ts. Each answers
// whether it fired and one line saying what that means and what to do. The reference's check
// for dynamic defences (a Python trace of autograd calls inside forward) has no counterpart for
// a compiled model and is left out.
import type { ImageClassifier } from '../models/classifier.js';
import * as F from '../nn/functional.js';
import { withEval } from '../nn/module.js';
import { grad, noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { tensor } from '../tensor/creation.js';
import type { AttackBatch } from './attackTypes.js';
import type { Norm } from './threat.js';
import type { PlannedAttack } from './autoattackVersions.js';
import { epsSweepCheck, lossIncreaseCheck, unboundedBudgetCheck } from './attackFailureChecks.js';

/** The checks, by the id results.json and the warnings name them with. */
export type CheckId =
  | 'randomized'
  | 'softmax-output'
  | 'zero-gradient'
  | 'class-count'
  | 'eps-sweep'
  | 'unbounded-budget'
  | 'loss-increase'
  | 'square-success';

/** One check's answer: whether it fired (the evaluation may not be trusted) and why. */
export interface CheckResult {
  /** Which check. */
  id: CheckId;
  /** True when the check found a reason to distrust the evaluation. */
  fired: boolean;
  /** One line: what was seen, what it means and, when fired, what to do. */
  message: string;
}

/** Inputs a check runs on (checkInputs: the first of the attacked inputs). */
export const CHECK_INPUTS = 32;

/**
 * A random model: `draws` forwards of the same inputs (no gradients) differ, their rows
 * compared after scaling each to unit L2 norm (the reference's check_randomized: 5 draws,
 * alpha 1e-4), or the number of correct predictions changes. Costs `draws` forwards.
 */
export function randomizedCheck(model: ImageClassifier, batch: AttackBatch, draws = 5, alpha = 1e-4): CheckResult {
  const { diff, correct } = withEval(model, () =>
    scope(() =>
      noGrad(() => {
        const outs = Array.from({ length: draws }, () => model.forward(batch.images).logits);
        const unit = outs.map((o) => o.div(o.norm(2, 1, true).add(1e-10)));
        let diff = 0;
        for (let a = 0; a < draws; a++)
          for (let b = a + 1; b < draws; b++) diff = Math.max(diff, unit[a]!.sub(unit[b]!).norm(2, 1).max().item());
        return { diff, correct: outs.map((o) => o.argmax(1).eq(batch.labels).sum().item()) };
      }),
    ),
  );
  const fired = diff > alpha || new Set(correct).size > 1;
  return {
    id: 'randomized',
    fired,
    message: fired
      ? `${draws} forwards of the same ${batch.indices.length} inputs differ (largest difference ${diff.toPrecision(3)} ` +
        `of unit-norm outputs, correct predictions ${correct.join('/')}): ` +
        'the model is random at test time; evaluate it with --version rand (APGD with EOT)'
      : `${draws} forwards of the same ${batch.indices.length} inputs agree: the model is deterministic`,
  };
}

/**
 * Probabilities instead of logits: every output lies in [0, 1] and every row sums to 1 (the
 * reference's check_range_output, alpha 1e-5). Costs one forward.
 */
export function softmaxOutputCheck(model: ImageClassifier, batch: AttackBatch, alpha = 1e-5): CheckResult {
  const fired = withEval(model, () =>
    scope(() =>
      noGrad(() => {
        const out = model.forward(batch.images).logits;
        return out.max().item() < 1 + alpha && out.min().item() > -alpha && out.sum(1).sub(1).abs().max().item() < alpha;
      }),
    ),
  );
  return {
    id: 'softmax-output',
    fired,
    message: fired
      ? 'the outputs lie in [0, 1] and each row sums to 1: the model returns probabilities, not logits, ' +
        "which flattens the attacks' losses; remove the final softmax so the model returns logits"
      : 'the outputs are not probabilities: the model returns logits',
  };
}

/**
 * Zero gradients: the cross-entropy's gradient with respect to the input is exactly zero for
 * some inputs (the reference's check_zero_gradients fires for any), so gradient attacks cannot
 * move from them. Costs one forward and backward.
 */
export function zeroGradientCheck(model: ImageClassifier, batch: AttackBatch): CheckResult {
  const zero = withEval(model, () =>
    scope(() => {
      const x = batch.images.detach().requiresGrad_(true);
      const loss = F.crossEntropy(model.forward(x).logits, batch.labels, { reduction: 'sum' });
      return grad(loss, x)[0]!.flatten(1).abs().sum(1).eq(0).sum().item();
    }),
  );
  const n = batch.indices.length;
  return {
    id: 'zero-gradient',
    fired: zero > 0,
    message:
      zero > 0
        ? `the input gradient of the cross-entropy is zero for ${zero} of ${n} inputs: gradient attacks cannot move from them ` +
          '(masked gradients, e.g. a non-differentiable input transform), so their robust accuracy overstates robustness; ' +
          "use an adaptive attack (e.g. BPDA) and trust Square's result over theirs"
        : `the input gradient of the cross-entropy is nonzero for all ${n} inputs`,
  };
}

/**
 * Square lowering the robust accuracy that the other attacks left, by more than alpha (the
 * reference's check_square_sr, alpha 0.002): `accuracy` is the robust accuracy after each
 * attack with `clean` first (robustAccuracyByAttack). Costs nothing.
 */
export function squareSuccessCheck(accuracy: Record<string, number>, alpha = 0.002): CheckResult {
  const others = Object.entries(accuracy)
    .filter(([k]) => k !== 'square')
    .map(([, v]) => v);
  const square = accuracy.square;
  if (square === undefined || Object.keys(accuracy).length <= 2)
    return { id: 'square-success', fired: false, message: 'Square did not run after another attack' };
  const drop = Math.min(...others) - square;
  const fired = drop > alpha;
  return {
    id: 'square-success',
    fired,
    message: fired
      ? `Square, a black-box attack, lowered the robust accuracy left by the other attacks by ${(100 * drop).toFixed(1)} points: ` +
        'the gradient attacks are failing on this model (masked gradients), so the result may still overstate robustness; ' +
        'run Square with more queries and restarts, or an adaptive attack'
      : 'Square did not lower the robust accuracy left by the other attacks',
  };
}

/**
 * Too few classes for the losses and targets the attacks use (the reference's
 * check_n_classes): DLR needs 3 classes, targeted DLR 4, and n targets n + 1. Costs nothing.
 */
export function classCountCheck(classes: number, plan: PlannedAttack[]): CheckResult {
  const problems: string[] = [];
  const has = (a: string) => plan.find((p) => p.attack === a);
  const apgdT = has('apgd-t');
  if ((has('apgd-dlr') || apgdT) && classes <= 2) problems.push(`the DLR loss needs at least 3 classes, the model has ${classes}`);
  else if (apgdT && classes === 3) problems.push('the targeted DLR loss needs at least 4 classes, the model has 3');
  else if (apgdT && 'targetClasses' in apgdT && apgdT.targetClasses + 1 > classes)
    problems.push(`APGD-T uses ${apgdT.targetClasses} target classes, ${classes - 1} are possible`);
  const fabT = has('fab-t');
  if (fabT && 'targetClasses' in fabT && fabT.targetClasses + 1 > classes)
    problems.push(`FAB-T uses ${fabT.targetClasses} target classes, ${classes - 1} are possible`);
  return {
    id: 'class-count',
    fired: problems.length > 0,
    message: problems.length
      ? `${problems.join('; ')}: choose other attacks with --version custom --attacks`
      : `the model's ${classes} classes suit the attacks' losses and targets`,
  };
}

/** What modelChecks needs to know about the evaluation it checks. */
export interface ModelCheckOptions {
  /** The evaluation's budget. */
  norm: Norm;
  eps: number;
  /** The attacks the evaluation runs (for the class count). */
  plan: PlannedAttack[];
  /** Leave out the randomness check (version rand expects a random model, as the reference). */
  random?: boolean;
  /** PGD iterations of the attack-failure checks (default 10). */
  iterations?: number;
}

/**
 * Every check that looks at the model, on a few inputs (CHECK_INPUTS by default; images on the
 * model's device, true labels): randomness (5 forwards), output range (1), zero gradients (1
 * forward and backward), the class count, and the attack-failure indicators on the inputs
 * classified correctly (PGD of `iterations` steps, 5 runs in all). On the default
 * Fashion-MNIST model and 32 inputs, well under a second.
 */
export function modelChecks(model: ImageClassifier, batch: AttackBatch, o: ModelCheckOptions): CheckResult[] {
  const out: CheckResult[] = [];
  if (!o.random) out.push(randomizedCheck(model, batch));
  out.push(softmaxOutputCheck(model, batch), zeroGradientCheck(model, batch), classCountCheck(model.numClasses, o.plan));
  const correct = scope(() => {
    const right = withEval(model, () => noGrad(() => model.forward(batch.images).logits.argmax(1).eq(batch.labels))).toNumbers();
    const rows = right.flatMap((r, i) => (r ? [i] : []));
    const idx = tensor(BigInt64Array.from(rows, BigInt), { shape: [rows.length], device: batch.images.device });
    return {
      images: batch.images.indexSelect(0, idx),
      labels: batch.labels.indexSelect(0, idx),
      indices: rows.map((i) => batch.indices[i]!),
    };
  });
  try {
    const f = { norm: o.norm, eps: o.eps, iterations: o.iterations ?? 10, checked: batch.indices.length };
    out.push(epsSweepCheck(model, correct, f), unboundedBudgetCheck(model, correct, f), lossIncreaseCheck(model, correct, f));
  } finally {
    correct.images.dispose();
    correct.labels.dispose();
  }
  return out;
}
