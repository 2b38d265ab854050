// Auto-PGD (Croce & Hein, ICML 2020) as fra31/auto-attack's autopgd_base.py defines it
// (APGDAttack, APGDAttack_targeted): a config turned into calls of the early-stopping scheduler
// (earlyStop.ts) with APGD's step rule (stepRules.ts, apgdStep) and losses (losses.ts).
// The reference's protocol, and where Sauron's differs:
// - Only inputs the model classifies correctly are attacked; the others keep their clean image.
// - Each run (restart, or target and restart) starts from x + eps * t / ||t|| (Linf: t uniform
//   in [-1, 1]^d, ||.||_inf; L2: t Gaussian, ||.||_2), clipped to [0, 1]. Sauron draws t from a
//   generator per (seed, input, run) instead of one stream per batch, so an input's answer does
//   not depend on its batch.
// - A run after the first goes only to inputs no earlier run fooled; APGD-T's runs are the
//   targets (by clean logit, highest first) times the restarts, in that order. Sauron runs an
//   input's later runs side by side once its first missed, and keeps the lowest fooling one: the
//   sequential answer.
// - An input is fooled when some iterate of a run is misclassified. The reference's example is
//   the run's last misclassified iterate; Sauron stops a row at its first one and keeps that (the
//   same inputs fooled, fewer steps).
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';
import { rand, randn, tensor } from '../tensor/creation.js';
import { derivedGenerator, type Generator } from '../tensor/random.js';
import { hostSide } from '../tensor/deviceState.js';
import { withEval } from '../nn/module.js';
import { withFoldedBatchNorm } from '../nn/foldBatchNorm.js';
import type { Norm } from './budget.js';
import { perRow } from './threat.js';
import { apgdObjective } from './losses.js';
import type { Evaluated } from './loop.js';
import { earlyStop, type Job } from './earlyStop.js';
import { apgdStep } from './stepRules.js';
import { defaultRestartBatch } from './pgd.js';
import { judge, judgedAgain, loopIsJudgement, sampleRecords, unfooledKeepClean } from './records.js';
import type { AttackBatch, AttackOutput } from './attackTypes.js';
import type { RobustRecord } from './robustAttackTypes.js';
import { APGD_DEFAULTS, checkApgdConfig, checkStart, type ApgdConfig } from './apgdConfig.js';

export { APGD_DEFAULTS, checkApgdConfig, type ApgdConfig } from './apgdConfig.js';

/** Tag of APGD's random starts among a run's generators (derivedGenerator). */
const START_TAG = 28;

/**
 * Auto-PGD: APGD-CE, APGD-DLR, or APGD-T (`targeted`: for each of the top `targetClasses`
 * classes but the first by clean logit, highest first, the targeted DLR loss towards it), with
 * restarts, 100 iterations by default, APGD's step-size schedule (apgdStep).
 *
 * - `batch.images`: [B, C, H, W] float32 pixels in [0, 1] on the model's device; `labels`: [B]
 *   int64 true classes; `indices`: data-set positions (seed the starts).
 * - `c.eps`: the budget in the norm's units on [0, 1] pixels (L2 over all C*H*W pixels, or Linf).
 * - `c.rowBatch`: the rows (runs of inputs) stepped together, at least one per attacked input,
 *   and the chunks their forward and backward run in. Default: on the CPU as many runs per
 *   input as fit in 256 rows, at least one (defaultRestartBatch); on a GPU every run at once.
 * - Returns one RobustRecord per input in batch order (`success`: the prediction on the example
 *   differs from the label; `restart`: the run that fooled it, for APGD-T the target's rank;
 *   `iteration`: the iteration of that run, 0 = its start) and the examples [B, C, H, W]: the
 *   first misclassified iterate of an input's lowest fooling run, else its clean image.
 * Examples are judged by the model as given; an input fooled inside the loop (folded batch
 * norm, bf16 / fp16) whose example the model as given classifies correctly is attacked again
 * in float32 without folding, and keeps its clean image if that misses too (`rejudged` counts
 * them).
 *
 * @example
 * const { records } = scope(() => apgdAttack(model, { images, labels, indices: [0, 1, 2, 3] },
 *   { norm: 'linf', eps: 8 / 255, loss: 'ce', seed: 0 }));
 * const robust = records.filter((r) => !r.success).length / records.length;
 */
export function apgdAttack(model: ImageClassifier, batch: AttackBatch, c: ApgdConfig): AttackOutput<RobustRecord> {
  const x = batch.images;
  const b = x.shape[0]!;
  if (batch.labels.shape[0] !== b || batch.indices.length !== b)
    throw new Error(`APGD: ${b} images, ${batch.labels.shape[0]} labels and ${batch.indices.length} indices`);
  if (c.start && c.start.shape.join() !== x.shape.join())
    throw new Error(`APGD: start is [${c.start.shape.join(', ')}], the images [${x.shape.join(', ')}]`);
  return withEval(model, () =>
    scope(() => {
      const logits = noGrad(() => model.forward(x).logits);
      checkApgdConfig(c, logits.shape[1]!);
      if (c.start) checkStart(c.start, x, c.norm, c.eps);
      const clean = logits.argmax(1);
      // the reference attacks the inputs it classifies correctly
      const correct = clean.eq(batch.labels).toArray<'bool'>();
      const attacked = Array.from(correct, (v, i) => (v ? i : -1)).filter((i) => i >= 0);
      let adv = x;
      const restartOf = new Int32Array(b);
      const iterationOf = new Int32Array(b);
      const fooled = new Uint8Array(b);
      if (attacked.length) {
        const idx = tensor(BigInt64Array.from(attacked, BigInt), { shape: [attacked.length], device: x.device });
        const r = attackRows(
          model,
          c,
          x.indexSelect(0, idx),
          batch.labels.indexSelect(0, idx),
          logits.indexSelect(0, idx),
          attacked.map((i) => batch.indices[i]!),
          c.start?.indexSelect(0, idx),
        );
        const perRun = c.targeted ? (c.restarts ?? APGD_DEFAULTS.restarts) : 1;
        attacked.forEach((i, k) => {
          if (!r.fooled[k]) return;
          fooled[i] = 1;
          restartOf[i] = Math.floor(r.restartOf[k]! / perRun);
          iterationOf[i] = r.iterationOf[k]!;
        });
        if (r.fooled.some(Boolean)) {
          const mask = tensor(Uint8Array.from(r.fooled), { shape: [attacked.length], device: x.device }).bool();
          adv = x.clone().indexCopy_(0, idx, where(perRow(mask, r.adversarial), r.adversarial, x.indexSelect(0, idx)));
        }
      }
      const labels = batch.labels.toNumbers();
      const j = judge(model, adv, x, c.norm, c.eps);
      const records = sampleRecords(j, {
        index: batch.indices,
        label: labels,
        clean: clean.toNumbers(),
        goal: labels,
        targeted: false,
        restart: restartOf,
        iteration: iterationOf,
      });
      const out = { records, adversarial: adv === x ? x.clone() : adv };
      // fooled in the loop, not by the model as given (see above)
      const missed = records.flatMap((r, i) => (fooled[i] && !r.success ? [i] : []));
      if (!missed.length) return out;
      // the loop already ran as the judgement does: such an input keeps its clean image
      if (loopIsJudgement(c)) return { ...unfooledKeepClean(out, x), rejudged: missed.length };
      return judgedAgain(batch, out, missed, (sub, idx) =>
        apgdAttack(model, sub, { ...c, foldBatchNorm: false, precision: 'fp32', start: c.start?.indexSelect(0, idx) }),
      ).output;
    }),
  );
}

/**
 * The attack of correctly classified rows x [n, ...] with labels y and clean logits [n, C]:
 * per row its kept example, whether some run fooled it, and that run and iteration.
 */
function attackRows(model: ImageClassifier, c: ApgdConfig, x: Tensor, y: Tensor, logits: Tensor, indices: number[], start?: Tensor) {
  const n = x.shape[0]!;
  const iterations = c.iterations ?? APGD_DEFAULTS.iterations;
  const restarts = c.restarts ?? APGD_DEFAULTS.restarts;
  const runs = c.targeted ? restarts * (c.targetClasses ?? APGD_DEFAULTS.targetClasses) : restarts;
  // APGD-T: run q of input i is problem row q * n + i, aimed at target floor(q / restarts)
  const order = c.targeted ? apgdTargets(logits, c.targetClasses ?? APGD_DEFAULTS.targetClasses) : null;
  const goal = order
    ? cat(
        Array.from({ length: runs }, () => y),
        0,
      )
    : y;
  const target = order
    ? cat(
        Array.from({ length: runs }, (_, q) => order.select(1, Math.floor(q / restarts))),
        0,
      )
    : undefined;
  const eot = c.eotIter ?? APGD_DEFAULTS.eotIter;
  const evaluate = (xi: Tensor, rows: Tensor | null): Evaluated => {
    const pick = (v: Tensor) => (rows ? v.indexSelect(0, rows) : v);
    const [yr, tr] = [pick(goal), target && pick(target)];
    const once = () => apgdObjective(model.forward(xi).logits, yr, c.loss, tr);
    if (eot === 1) return once();
    // the mean gradient of eot forwards; the last one's loss and prediction (the reference's)
    const all = Array.from({ length: eot }, once);
    const last = all[eot - 1]!;
    return {
      ...last,
      objective: all
        .map((e) => e.objective)
        .reduce((s, v) => s.add(v))
        .div(eot),
      value: last.objective,
    };
  };
  const draws = (jobs: Job[]) => jobs.map((j) => derivedGenerator(c.seed, indices[j.input]!, j.restart, START_TAG));
  const run = () =>
    earlyStop({
      evaluate,
      rule: apgdStep({ norm: c.norm, eps: c.eps, iterations, rho: c.rho }),
      precision: c.precision,
      rowBatch: c.rowBatch,
      x0: x,
      restarts: runs,
      iterations,
      capacity: c.rowBatch !== undefined ? Math.max(n, c.rowBatch) : n * defaultRestartBatch(n, runs, x.device),
      start: (jobs, centres) =>
        start
          ? start
              .indexSelect(
                0,
                tensor(
                  BigInt64Array.from(jobs, (j) => BigInt(j.input)),
                  { shape: [jobs.length], device: x.device },
                ),
              )
              .clamp(0, 1)
          : apgdStart(centres, c.norm, c.eps, draws(jobs)),
      ...(c.targeted ? { problemRow: (j: Job) => j.restart * n + j.input } : {}),
    });
  return c.foldBatchNorm === false ? run() : withFoldedBatchNorm(model, run);
}

/**
 * APGD-T's targets: per row of clean logits [n, C], the classes ranked 2 to count + 1 by logit,
 * highest first [n, count] (the reference's sort(dim=1)[1][:, -target_class], target_class = 2,
 * 3, ...; for a correctly classified input, the top classes other than its label).
 */
export function apgdTargets(logits: Tensor, count: number): Tensor {
  return scope(() => {
    const c = logits.shape[1]!;
    return logits
      .sort(1)
      .indices.narrow(1, c - 1 - count, count)
      .flip([1]);
  });
}

/**
 * The reference's random start, one generator per row: x + eps * t / (||t|| + 1e-12), t uniform
 * in [-1, 1] per pixel and the Linf norm, or Gaussian and the L2 norm; clipped to [0, 1].
 */
export function apgdStart(x: Tensor, norm: Norm, eps: number, generators: Generator[]): Tensor {
  return scope(() => {
    if (generators.length !== x.shape[0]) throw new Error('apgdStart: one generator per row');
    const shape = [1, ...x.shape.slice(1)];
    // drawn on the host from per-row CPU generators, so starts are the same on every device
    const host = hostSide(() =>
      cat(
        generators.map((g) => (norm === 'linf' ? rand(shape, { generator: g }).mul(2).sub(1) : randn(shape, { generator: g }))),
        0,
      ),
    );
    const t = x.device === 'cpu' ? host : host.to(x.device);
    const size = norm === 'linf' ? t.abs().flatten(1).amax(1) : t.square().flatten(1).sum(1).sqrt();
    return x.add(t.div(perRow(size, t).add(1e-12)).mul(eps)).clamp(0, 1);
  });
}
