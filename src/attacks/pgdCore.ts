// The projected-gradient loop every attack shares: ascend an objective inside the budget,
// keep each row's best iterate by a separate score (robustness' replace_best: the start and
// every iterate are scored, the last one after the final step too).
import { grad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';
import { project, stepAlong, type Norm } from './budget.js';
import { arange, zeros } from '../tensor/creation.js';
import { autocast, autocastDtype, type Precision } from '../tensor/device.js';

export interface Evaluated {
  /** Per-row objective to ascend [B] (summed for the gradient). */
  objective: Tensor;
  /** Per-row score of this iterate [B], higher is better; compared without gradients. */
  score: Tensor;
}

export interface PgdLoopOptions {
  x0: Tensor;
  start: Tensor;
  norm: Norm;
  eps: number;
  stepSize: number;
  iterations: number;
  /** `rows`: which of the B rows x holds (int64 indices), or null for all of them. */
  evaluate: (x: Tensor, rows: Tensor | null) => Evaluated;
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
  best: Tensor;
  bestScore: Tensor;
  /** Iteration at which each row's kept iterate was reached (0 = the start). */
  bestIteration: Int32Array;
  /** Rows dropped after the first gradient (`dropFrozen`). */
  frozenRows: number;
}

export function pgdLoop(o: PgdLoopOptions): PgdLoopResult {
  const rows = o.x0.shape[0]!;
  const half = autocastDtype(o.precision ?? 'fp32');
  let x = o.start.detach().keep();
  let best: Tensor | null = null;
  let bestScore: Tensor | null = null;
  // Bookkeeping stays on the device: one host read at the end, none per iteration.
  let bestIt: Tensor | null = null;
  // Once frozen rows are dropped: the rows still stepped, their clean inputs, and every row's
  // kept iterate as of the drop (the frozen rows' final ones); the loop's own bookkeeping
  // then holds the stepped rows only, written back once at the end.
  let active: Tensor | null = null;
  let x0 = o.x0;
  let all: { best: Tensor; score: Tensor; it: Tensor } | null = null;
  let frozenRows = 0;
  const consider = (xi: Tensor, score: Tensor, t: number) => {
    if (!best || !bestScore || !bestIt) {
      best = xi.detach().keep();
      bestScore = score.detach().float().keep();
      bestIt = zeros([rows], { dtype: 'int32', device: xi.device }).keep();
      return;
    }
    const better = score.gt(bestScore);
    const mask = better.view([xi.shape[0]!, ...Array(xi.ndim - 1).fill(1)]);
    const nb = where(mask, xi.detach(), best).keep();
    const ns = where(better, score.detach().float(), bestScore).keep();
    const ni = where(better, t, bestIt).to('int32').keep();
    best.dispose();
    bestScore.dispose();
    bestIt.dispose();
    best = nb;
    bestScore = ns;
    bestIt = ni;
  };
  try {
    for (let t = 0; t <= o.iterations; t++) {
      const last = t === o.iterations;
      const next = scope(() => {
        const n = x.shape[0]!;
        const chunk = Math.min(n, o.rowBatch ?? n);
        const scores: Tensor[] = [];
        const grads: Tensor[] = [];
        for (let s = 0; s < n; s += chunk) {
          const m = Math.min(chunk, n - s);
          const whole = m === n;
          const xc = (whole ? x : x.narrow(0, s, m)).detach().requiresGrad_(!last);
          const rowsC = whole ? active : active ? active.narrow(0, s, m) : arange(s, s + m, 1, { dtype: 'int64', device: x.device });
          // Mixed precision covers the model's forward (and so its backward); the iterate,
          // the step and the projection stay float32.
          const e = autocast(xc.device, half, () => o.evaluate(xc, rowsC));
          scores.push(e.score.detach());
          // the chunk's graph goes with its gradient
          if (!last) grads.push(grad(e.objective.float().sum(), xc)[0]!);
        }
        // the chunks are narrow views of x: the iterate is x itself, not a concatenation of them
        const xi = x.detach();
        consider(xi, scores.length === 1 ? scores[0]! : cat(scores, 0), t);
        if (last) return null;
        const g = grads.length === 1 ? grads[0] : cat(grads, 0);
        if (t === 0 && o.dropFrozen) {
          const keep = g!.flatten(1).abs().amax(1).gt(0).nonzero().flatten();
          if (keep.shape[0]! < rows) {
            // from here on only the moving rows are stepped (possibly none)
            frozenRows = rows - keep.shape[0]!;
            active = keep.keep();
            x0 = o.x0.indexSelect(0, keep).keep();
            all = { best: best!, score: bestScore!, it: bestIt! };
            best = best!.indexSelect(0, keep).keep();
            bestScore = bestScore!.indexSelect(0, keep).keep();
            bestIt = bestIt!.indexSelect(0, keep).keep();
            if (!keep.shape[0]) return 'done' as const;
            return project(stepAlong(xi.detach().indexSelect(0, keep), g!.indexSelect(0, keep), o.norm, o.stepSize), x0, o.norm, o.eps);
          }
        }
        // A zero gradient leaves the row where it is (L2 divides by ||g|| + 1e-10, never 0).
        return project(stepAlong(xi.detach(), g!, o.norm, o.stepSize), x0, o.norm, o.eps);
      });
      if (next === null || next === 'done') break;
      x.dispose();
      x = next.keep();
    }
    const dropped = all as { best: Tensor; score: Tensor; it: Tensor } | null;
    if (dropped) {
      // copies: the kept iterates of the start may be the caller's own x0
      const full = { best: dropped.best.clone().keep(), score: dropped.score.clone().keep(), it: dropped.it.clone().keep() };
      full.best.indexCopy_(0, active!, best!);
      full.score.indexCopy_(0, active!, bestScore!);
      full.it.indexCopy_(0, active!, bestIt!);
      for (const t of [dropped.best, dropped.score, dropped.it, best!, bestScore!, bestIt!]) t.dispose();
      [best, bestScore, bestIt] = [full.best, full.score, full.it];
    }
  } finally {
    x.dispose();
    (active as Tensor | null)?.dispose();
    if (x0 !== o.x0) x0.dispose();
  }
  const it: Tensor = bestIt!;
  const bestIteration = Int32Array.from(it.toArray<'int32'>());
  it.dispose();
  return { best: best!, bestScore: bestScore!, bestIteration, frozenRows };
}
