// The fixed schedule: every row runs the loop's iteration (loop.ts) a set number of times,
// except rows that cannot move, which may leave after the first gradient.
import { scope } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Precision } from '../tensor/device.js';
import type { Norm } from './threat.js';
import { enter, iterate, replaceActive, type Active, type Evaluated, type Kept, type StepRule } from './loop.js';
import { fixedStep } from './stepRules.js';

export interface PgdLoopOptions {
  /** The budget's centres [B, ...] (pixels in [0, 1]) and the start points, inside the budget. */
  x0: Tensor;
  start: Tensor;
  norm: Norm;
  /** Radius of the budget, in the norm's units on [0, 1] pixels. */
  eps: number;
  /** Length of each step (the fixed step rule's; ignored when `rule` is given). */
  stepSize: number;
  iterations: number;
  /**
   * The objective to ascend and the score that picks each row's kept iterate, for the rows x
   * holds: `rows` (int64 indices into the B rows), or null for all of them in order.
   */
  evaluate: (x: Tensor, rows: Tensor | null) => Evaluated;
  /** How rows step (default: fixedStep(norm, eps, stepSize)). */
  rule?: StepRule;
  /** fp32 (default), or autocast to bf16 / fp16 for the model's forward and backward. */
  precision?: Precision;
  /**
   * Stop stepping the rows whose gradient at the start is exactly zero (start = x0 only): such
   * a row never moves, so every later iterate is the start again, and its kept iterate is the
   * start (iteration 0) either way. The answers are the full loop's; the work is not.
   */
  dropFrozen?: boolean;
  /**
   * Rows evaluated together (default all): the forward and backward run chunk by chunk over
   * the rows still stepped, so dropped rows leave the chunks full. Rows are independent, so
   * the answers do not depend on it.
   */
  rowBatch?: number;
}

export interface PgdLoopResult {
  /** Each row's kept iterate [B, ...] and its score [B] (float32), in the caller's scope. */
  best: Tensor;
  bestScore: Tensor;
  /** Iteration at which each row's kept iterate was reached (0 = the start). */
  bestIteration: Int32Array;
  /** Rows dropped after the first gradient (`dropFrozen`). */
  frozenRows: number;
}

/**
 * Projected gradient ascent with a fixed number of iterations, keeping each row's best iterate
 * by a separate score (robustness' `replace_best`): the start and every iterate are scored, the
 * last one after the final step too, so a row sees `iterations + 1` evaluations and
 * `iterations` gradients. Rows are independent.
 *
 * @example
 * // untargeted L2 PGD on cross-entropy from the clean inputs x [B, C, H, W], labels y [B]
 * const r = pgdLoop({ x0: x, start: x, norm: 'l2', eps: 0.5, stepSize: 0.05, iterations: 25,
 *   evaluate: (xi, rows) => crossEntropyObjective(model.forward(xi).logits, rows ? y.indexSelect(0, rows) : y, false) });
 * // r.best [B, C, H, W], r.bestScore [B], r.bestIteration[i] in 0..25
 */
export function pgdLoop(o: PgdLoopOptions): PgdLoopResult {
  const rule = o.rule ?? fixedStep(o.norm, o.eps, o.stepSize);
  const loop = { evaluate: o.evaluate, rule, precision: o.precision, rowBatch: o.rowBatch };
  const n = o.x0.shape[0]!;
  let frozenRows = 0;
  const dropFrozen = (g: Tensor) => {
    const keep = g.flatten(1).abs().amax(1).gt(0).nonzero().flatten();
    if (keep.shape[0]! === n) return null;
    frozenRows = n - keep.shape[0]!;
    return keep;
  };
  let a: Active | null = replaceActive(
    null,
    scope(() => enter(o.x0, o.start, null, rule)),
  );
  // Once frozen rows are dropped: every row's kept iterate as of the drop (the frozen rows'
  // final ones); the active rows then hold the stepped rows only, written back at the end.
  let all: Kept | null = null;
  let out: Kept | null = null;
  try {
    for (let t = 0; !out; t++) {
      const cur: Active = a!;
      const r = scope(() => {
        const step = iterate(cur, t, loop, t < o.iterations, t === 0 && o.dropFrozen ? dropFrozen : undefined);
        const dropped = t === 0 && frozenRows > 0;
        const kept = step.next && !dropped ? null : keepAll(step.kept);
        if (kept && !step.next && all) {
          // the stepped rows' last iteration, written back into every row's kept iterates
          for (const k of ['best', 'score', 'it'] as const) all[k].indexCopy_(0, cur.rows!, kept[k]);
          disposeAll(kept);
          return { next: replaceActive(cur, null), kept: all };
        }
        return { next: replaceActive(cur, step.next), kept };
      });
      if (r.next && r.kept) all = r.kept;
      if (!r.next) out = r.kept;
      a = r.next;
    }
  } catch (e) {
    replaceActive(a, null);
    disposeAll(all);
    throw e;
  }
  // into the caller's scope: views of the kept tensors, which then go
  const kept = out!;
  const result = {
    best: kept.best.detach(),
    bestScore: kept.score.detach(),
    bestIteration: Int32Array.from(kept.it.toArray<'int32'>()),
    frozenRows,
  };
  disposeAll(kept);
  return result;
}

function keepAll(k: Kept): Kept {
  for (const v of [k.best, k.score, k.it]) v.keep();
  return k;
}

function disposeAll(k: Kept | null): void {
  if (k) for (const v of [k.best, k.score, k.it]) v.dispose();
}
