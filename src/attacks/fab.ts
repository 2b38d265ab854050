// FAB and FAB-T (Croce & Hein, "Minimally distorted adversarial examples with a fast adaptive
// boundary attack", ICML 2020), as fra31/auto-attack's fab_base.py and fab_pt.py define them:
// the attack searches for the smallest fooling perturbation (fabStep.ts), and AutoAttack keeps
// its example only where that perturbation lies inside eps (FABAttack.perturb). Only inputs the
// model classifies correctly are attacked. Restart 0 starts at the clean input, later restarts
// half way to the sphere of radius eps, each from its row's own generator. FAB-T attacks each of
// the `targetClasses` highest classes other than the label in turn, as the reference's
// n_target_classes loop; its rows are scheduled by fabSchedule.ts.
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { tensor } from '../tensor/creation.js';
import { derivedGenerator } from '../tensor/random.js';
import { scope } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { withEval } from '../nn/module.js';
import { withFoldedBatchNorm } from '../nn/foldBatchNorm.js';
import { checkBudget } from './budget.js';
import { judge, judgedAgain, loopIsJudgement, sampleRecords, unfooledKeepClean } from './records.js';
import { fabNoise, fabStart } from './fabStep.js';
import { fabSchedule, type FabJob } from './fabSchedule.js';
import type { AttackBatch, AttackOutput } from './attackTypes.js';
import type { RobustAttackConfig, RobustRecord } from './robustAttackTypes.js';

export interface FabConfig extends RobustAttackConfig {
  /** fab-t: towards each of the `targetClasses` highest classes other than the label, in turn. */
  targeted: boolean;
  /** n_restarts: 1 (AutoAttack's fab-t; its 'plus' version runs fab with 5). */
  restarts?: number;
  /** n_target_classes: 9. */
  targetClasses?: number;
  /** n_iter: 100. */
  iterations?: number;
  /** alpha_max, the largest pull towards the projection of the clean input: 0.1. */
  alphaMax?: number;
  /** eta, the overshoot of each projection step: 1.05. */
  eta?: number;
  /** beta, the backward step towards the clean input after a fooling iterate: 0.9. */
  beta?: number;
  /**
   * Rows leave once an example within eps fooled (default true): the same success as the
   * reference, with the first such iterate as the example instead of the smallest one found in
   * all iterations. false: every iteration, the reference's smallest fooling iterate.
   */
  earlyStop?: boolean;
  /**
   * Tests only: the raw draw of a random restart's start (the reference's torch.rand, U(0, 1),
   * for Linf, or torch.randn for L2), [jobs, C, H, W], in place of the per-row generators.
   * `input`: the row of the batch; `restart` >= 1.
   */
  startNoise?: (jobs: { input: number; restart: number; target: number }[]) => Tensor;
}

/** The reference's settings (fab_base.py's FABAttack defaults, AutoAttack's n_target_classes). */
export const FAB_DEFAULTS = { restarts: 1, targetClasses: 9, iterations: 100, alphaMax: 0.1, eta: 1.05, beta: 0.9 } as const;

/** Stream tag of FAB's random starts (derivedGenerator). */
const FAB_TAG = 47;

export function checkFabConfig(c: FabConfig): void {
  checkBudget(c.norm, c.eps);
  const count = (v: number | undefined, what: string) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new RangeError(`FAB: ${what} must be a positive integer, got ${v}`);
  };
  count(c.restarts, 'restarts');
  count(c.targetClasses, 'targetClasses');
  count(c.iterations, 'iterations');
  const inRange = (v: number | undefined, what: string, lo: number, hi: number) => {
    if (v !== undefined && !(v >= lo && v <= hi)) throw new RangeError(`FAB: ${what} must lie in [${lo}, ${hi}], got ${v}`);
  };
  inRange(c.alphaMax, 'alphaMax', 0, 1);
  inRange(c.beta, 'beta', 0, 1);
  inRange(c.eta, 'eta', 0, Infinity);
}

/**
 * FAB (untargeted) or FAB-T, AutoAttack's `fab` and `fab-t`.
 *
 * - `batch.images`: [B, C, H, W] float32 pixels in [0, 1] on the model's device; `labels`: [B]
 *   int64; `indices`: the data-set positions (seed the random restarts).
 * - `c.eps`: the budget, L2 over all C*H*W pixels or Linf per pixel, on [0, 1] pixels.
 * - Returns one record per input (batch order; `restart`: the target's rank for FAB-T, the
 *   restart for FAB) and the examples [B, C, H, W] float32 in the caller's scope: the found
 *   example where it fools the model inside eps, else the clean image. The model runs in eval
 *   mode and is left as it was.
 *
 * @example
 * const { records } = scope(() => fabAttack(model, { images, labels, indices }, { norm: 'linf', eps: 8 / 255, seed: 0, targeted: true }));
 */
export function fabAttack(model: ImageClassifier, batch: AttackBatch, c: FabConfig): AttackOutput<RobustRecord> {
  checkFabConfig(c);
  const b = batch.images.shape[0]!;
  if (batch.labels.shape[0] !== b || batch.indices.length !== b) {
    throw new Error(`FAB: ${b} images need ${b} labels and ${b} indices, got ${batch.labels.shape[0]} and ${batch.indices.length}`);
  }
  if (!b) return { records: [], adversarial: batch.images.clone() };
  return withEval(model, () =>
    scope(() => {
      const out = attackOnce(model, batch, c);
      // The loop judged with batch norm folded (and maybe autocast); the records judge the model
      // as given. An input whose example fooled the one but not the other is attacked again with
      // the model as given, as the reference would.
      const back = out.records.flatMap((r, i) => (out.found[i] && !r.success ? [i] : []));
      const { found: _, ...first } = out;
      if (!back.length || loopIsJudgement(c)) return unfooledKeepClean(first, batch.images);
      const { output } = judgedAgain(batch, first, back, (sub) =>
        attackOnce(model, sub, { ...c, foldBatchNorm: false, precision: 'fp32' }),
      );
      return unfooledKeepClean(output, batch.images);
    }),
  );
}

function attackOnce(model: ImageClassifier, batch: AttackBatch, c: FabConfig): AttackOutput<RobustRecord> & { found: boolean[] } {
  const x0 = batch.images;
  const restarts = c.restarts ?? FAB_DEFAULTS.restarts;
  const logits = noGrad(() => model.forward(x0).logits);
  const classes = logits.shape[1]!;
  const targets = Math.min(c.targetClasses ?? FAB_DEFAULTS.targetClasses, classes - 1);
  const cleanPred = logits.argmax(1);
  const labels = batch.labels.toNumbers();
  const pred = cleanPred.toNumbers();
  const attacked = labels.flatMap((y, i) => (pred[i] === y ? [i] : []));
  const jobs = c.targeted ? targets * restarts : restarts;
  // job j of FAB-T: the target of rank j / restarts, the (rank + 2)-th class by clean logit
  // (the reference's output.sort()[1][:, -target_class], target_class = rank + 2)
  const target = c.targeted
    ? logits.argsort(1).index([
        null,
        tensor(
          BigInt64Array.from({ length: jobs }, (_, j) => BigInt(classes - 2 - Math.floor(j / restarts))),
          { shape: [jobs], device: x0.device },
        ),
      ])
    : null;
  const restartOf = (j: number) => j % restarts;
  const start = (fresh: FabJob[], rows: Tensor): Tensor => {
    const rand = fresh.flatMap((f, k) => (restartOf(f.job) > 0 ? [k] : []));
    if (!rand.length) return rows;
    const idx = tensor(BigInt64Array.from(rand, BigInt), { shape: [rand.length], device: x0.device });
    const picked = rand.map((k) => fresh[k]!);
    const noise = c.startNoise
      ? c.startNoise(picked.map((f) => ({ input: f.input, restart: restartOf(f.job), target: Math.floor(f.job / restarts) })))
      : fabNoise(
          x0.shape.slice(1),
          c.norm,
          picked.map((f) => derivedGenerator(c.seed, batch.indices[f.input]!, f.job, FAB_TAG)),
          x0.device,
        );
    return rows.clone().indexCopy_(0, idx, fabStart(rows.indexSelect(0, idx), noise, c.norm, c.eps));
  };
  const run = () =>
    fabSchedule({
      model,
      x0,
      label: batch.labels,
      target,
      jobs,
      attacked,
      start,
      earlyStop: c.earlyStop ?? true,
      iterations: c.iterations ?? FAB_DEFAULTS.iterations,
      capacity: c.rowBatch ?? defaultFabRows(x0.device),
      norm: c.norm,
      eps: c.eps,
      alphaMax: c.alphaMax ?? FAB_DEFAULTS.alphaMax,
      eta: c.eta ?? FAB_DEFAULTS.eta,
      beta: c.beta ?? FAB_DEFAULTS.beta,
      precision: c.precision,
    });
  const r = c.foldBatchNorm === false ? run() : withFoldedBatchNorm(model, run);
  const records = sampleRecords(judge(model, r.adversarial, x0, c.norm, c.eps), {
    index: batch.indices,
    label: labels,
    clean: pred,
    goal: labels,
    targeted: false,
    restart: Array.from(r.jobOf, (j) => (j < 0 ? 0 : c.targeted ? Math.floor(j / restarts) : j)),
    iteration: r.iterationOf,
  });
  return { records, adversarial: r.adversarial, found: Array.from(r.jobOf, (j) => j >= 0) };
}

/** Rows stepped together when the config does not say: a few hundred on the CPU. */
export function defaultFabRows(device: string): number {
  return device === 'cpu' ? 256 : 2048;
}
