// PGD on cross-entropy (method.md section 4), untargeted or targeted, with restarts as extra
// rows: a config turned into calls of the loop (pgdLoop, or the early-stopping scheduler).
// Untargeted PGD ascends the loss against the clean prediction by default, so it and the
// k-NS share one definition of success (the prediction changed); for correctly
// classified inputs that is the label. Adversarial training attacks the label. Restart r of
// sample i always starts from the point seeded by (seed, i, r), so results do not depend on
// batch size or on the number of restarts.
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';
import { derivedGenerator } from '../tensor/random.js';
import { full, tensor, zeros } from '../tensor/creation.js';
import { withEval } from '../nn/module.js';
import { checkBudget, randomStart } from './budget.js';
import { crossEntropyObjective } from './losses.js';
import { keepBetter, type Evaluated, type Kept, type LoopOptions } from './loop.js';
import { pgdLoop } from './pgdLoop.js';
import { earlyStop, type Job } from './earlyStop.js';
import { fixedStep } from './stepRules.js';
import { judge, judgedAgain, sampleRecords } from './records.js';
import {
  checkIterations,
  defaultStepSize,
  iterating,
  type AttackBatch,
  type AttackOutput,
  type BudgetConfig,
  type SampleRecord,
} from './attackTypes.js';

export type { AttackBatch, AttackOutput } from './attackTypes.js';

/** Settings of {@link pgdAttack}: the budget, restarts, random start, and targeted or untargeted. */
export interface PgdConfig extends BudgetConfig {
  restarts: number;
  /** Start from a random point in the budget (on for the paper's baseline). */
  randomStart: boolean;
  /** Targeted: move towards these classes (one per input) instead of away from the label. */
  targeted?: boolean;
  /** Restarts attacked together in one batch (memory vs speed); default defaultRestartBatch's. */
  restartBatch?: number;
  /**
   * Untargeted: push away from the clean prediction (default; success = the prediction
   * changed) or from the label (success = misclassified; adversarial training's examples).
   */
  against?: 'prediction' | 'label';
  /**
   * Drop rows from the batch once they fool the model, and run the later restarts only for
   * inputs whose first restart missed, side by side up to `restartBatch` rows per input; a
   * restart stops once a lower restart of its input fools. The same success records, and for
   * unfooled inputs the same examples, as the full protocol; a fooled input's example is the
   * first fooling iterate of its lowest fooling restart instead of its highest-loss one.
   * false: every input, iteration and restart. Default: defaultEarlyStop's.
   */
  earlyStop?: boolean;
}

/**
 * Restarts batched together when the caller does not say. On the CPU a step over more than a
 * few hundred rows of the small CNN costs more per row, so restarts go in chunks of at most 256
 * rows (BENCHMARKS.md, "Attack: PGD restarts and k-NS rows per step on the CPU"); a GPU takes
 * them all at once (its steps are host-bound).
 */
export function defaultRestartBatch(inputs: number, restarts: number, device: string): number {
  return device === 'cpu' ? Math.max(1, Math.min(restarts, Math.floor(256 / Math.max(1, inputs)))) : restarts;
}

/**
 * Early stopping by default on the CPU only. On a GPU it was slower than the full protocol with
 * all restarts as rows, because it reads the batch back every iteration, and with TF32
 * convolutions it moved some inputs' outcomes (BENCHMARKS.md, "GPU: the paper's PGD protocol,
 * early stopping against the full protocol"); that was before fooled inputs were judged again
 * (pgdAttack; "Attack: early stopping's first fooling iterate, judged again").
 */
export function defaultEarlyStop(device: string): boolean {
  return device === 'cpu';
}

export function checkPgdConfig(c: PgdConfig): void {
  checkBudget(c.norm, c.eps);
  checkIterations(c.iterations);
  if (!Number.isInteger(c.restarts) || c.restarts < 1) throw new RangeError(`restarts must be a positive integer, got ${c.restarts}`);
  if (c.stepSize !== undefined && !(c.stepSize > 0)) throw new RangeError(`step size must be positive, got ${c.stepSize}`);
  if (c.against !== undefined && c.against !== 'prediction' && c.against !== 'label')
    throw new Error(`against must be 'prediction' or 'label', got '${String(c.against)}'`);
}

/**
 * PGD (Madry et al.) with restarts, per input: the kept example is the highest-scoring iterate
 * over all iterations and restarts (fooling iterates first, then the higher cross-entropy;
 * robustness' `replace_best`), or with early stopping a fooled input's first fooling iterate.
 *
 * - `batch.images`: [B, C, H, W] float32 pixels in [0, 1], on the model's device; `labels`,
 *   `targets`: [B] int64 classes; `indices`: the data-set positions (seed the random starts).
 * - `c.eps`: the budget in the norm's units on [0, 1] pixels (L2 over all C*H*W pixels, or Linf
 *   per pixel); step size default 2.5 * eps / iterations.
 * - Returns one SampleRecord per input (in batch order) and the examples [B, C, H, W] float32,
 *   in the caller's scope. The model runs in eval mode and is left as it was.
 *
 * @example
 * const { records, adversarial } = scope(() => pgdAttack(model, { images, labels, indices: [0, 1, 2, 3] },
 *   { norm: 'linf', eps: 8 / 255, iterations: 20, restarts: 1, randomStart: true, seed: 0 }));
 * const rate = records.filter((r) => r.success).length / records.length;
 */
export function pgdAttack(model: ImageClassifier, batch: AttackBatch, c: PgdConfig): AttackOutput {
  checkPgdConfig(c);
  if (c.targeted && !batch.targets) throw new Error('a targeted attack needs target classes');
  const b = batch.images.shape[0]!;
  return withEval(model, () => {
    return scope(() => {
      const x0 = batch.images;
      const clean = noGrad(() => model.forward(x0).logits.argmax(1));
      const goal = c.targeted ? batch.targets! : c.against === 'label' ? batch.labels : clean;
      const restartBatch = c.restartBatch ?? defaultRestartBatch(b, c.restarts, x0.device);
      const a: Protocol = {
        model,
        batch,
        c,
        goal,
        restartBatch,
        loop: { evaluate: objective(model, goal, c), rule: fixedStep(c.norm, c.eps, defaultStepSize(c)), precision: c.precision },
        // restart r of input i starts from the point seeded by (seed, data-set index of i, r)
        starts: (centres, jobs) =>
          c.randomStart
            ? randomStart(
                centres,
                c.norm,
                c.eps,
                jobs.map((j) => derivedGenerator(c.seed, batch.indices[j.input]!, j.restart, 17)),
              )
            : centres,
      };
      if (!(c.earlyStop ?? defaultEarlyStop(x0.device))) {
        const kept = iterating(model, c, () => fullProtocol(a));
        return toRecords(
          a,
          kept.best,
          clean,
          Int32Array.from(kept.restart.toArray<'int32'>()),
          Int32Array.from(kept.it.toArray<'int32'>()),
        );
      }
      // as many rows as the full protocol steps at once: later restarts fill the batch
      const r = iterating(model, c, () =>
        earlyStop({
          ...a.loop,
          x0,
          restarts: c.restarts,
          iterations: c.iterations,
          capacity: b * restartBatch,
          start: (jobs, centres) => a.starts(centres, jobs),
        }),
      );
      const out = toRecords(a, r.adversarial, clean, r.restartOf, r.iterationOf);
      // The first fooling iterate lies just past the decision boundary (BENCHMARKS.md, "Attack:
      // early stopping's first fooling iterate, judged again"), so where the loop's arithmetic
      // differs from the judgement's (bf16, TF32, folded batch norm) it can fall back. Such an
      // input gets the full protocol's answer, as it would without early stopping.
      const back = out.records.flatMap((rec, i) => (r.fooled[i] && !rec.success ? [i] : []));
      return back.length ? judgedAgain(batch, out, back, (sub) => pgdAttack(model, sub, { ...c, earlyStop: false })).output : out;
    });
  });
}

/** One attack's parts, for the two protocols. */
interface Protocol {
  model: ImageClassifier;
  batch: AttackBatch;
  c: PgdConfig;
  goal: Tensor;
  restartBatch: number;
  loop: LoopOptions;
  starts: (centres: Tensor, jobs: Job[]) => Tensor;
}

/** The cross-entropy objective against each row's goal class (`rows`: which of goal's rows). */
function objective(model: ImageClassifier, goal: Tensor, c: PgdConfig) {
  return (x: Tensor, rows: Tensor | null): Evaluated =>
    crossEntropyObjective(model.forward(x).logits, rows ? goal.indexSelect(0, rows) : goal, !!c.targeted);
}

/**
 * Every iteration of every restart: the restarts in chunks of restartBatch, a chunk's restarts
 * as rows of one loop; each input keeps its best over them, the earlier restart on a tie.
 */
function fullProtocol({ model, batch, c, goal, restartBatch, loop, starts }: Protocol): Kept & { restart: Tensor } {
  const x0 = batch.images;
  const b = x0.shape[0]!;
  const on = { device: x0.device };
  let kept = {
    best: x0,
    score: full([b], -Infinity, on),
    it: zeros([b], { dtype: 'int32', ...on }),
    restart: zeros([b], { dtype: 'int32', ...on }),
  };
  for (let r0 = 0; r0 < c.restarts; r0 += restartBatch) {
    const rs = Math.min(restartBatch, c.restarts - r0);
    const prev = kept;
    kept = scope(() => {
      const x0r = cat(Array(rs).fill(x0), 0);
      const jobs = Array.from({ length: rs * b }, (_, k) => ({ input: k % b, restart: r0 + Math.floor(k / b) }));
      const run = pgdLoop({
        ...loop,
        evaluate: objective(model, cat(Array(rs).fill(goal), 0), c),
        x0: x0r,
        start: starts(x0r, jobs),
        norm: c.norm,
        eps: c.eps,
        stepSize: defaultStepSize(c),
        iterations: c.iterations,
      });
      const its = tensor(run.bestIteration, { shape: [rs * b], dtype: 'int32', ...on });
      let k = prev;
      for (let q = 0; q < rs; q++) {
        const m = keepBetter(k, {
          best: run.best.narrow(0, q * b, b),
          score: run.bestScore.narrow(0, q * b, b),
          it: its.narrow(0, q * b, b),
        });
        k = { best: m.best, score: m.score, it: m.it, restart: where(m.better, r0 + q, k.restart).to('int32') };
      }
      return k;
    });
  }
  return kept;
}

/** The per-input records of a finished attack (inside the attack's eval mode and scope). */
function toRecords(
  { model, batch, c, goal }: Protocol,
  adv: Tensor,
  clean: Tensor,
  restartOf: Int32Array,
  iterOf: Int32Array,
): AttackOutput {
  const records: SampleRecord[] = sampleRecords(judge(model, adv, batch.images, c.norm, c.eps), {
    index: batch.indices,
    label: batch.labels.toNumbers(),
    clean: clean.toNumbers(),
    goal: goal.toNumbers(),
    targeted: !!c.targeted,
    restart: restartOf,
    iteration: iterOf,
  });
  return { records, adversarial: adv };
}
