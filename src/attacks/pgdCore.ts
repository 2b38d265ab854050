// The projected-gradient loop every attack shares: ascend an objective inside the budget,
// keep each row's best iterate by a separate score (robustness' replace_best: the start and
// every iterate are scored, the last one after the final step too).
import { grad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { where, type Tensor } from '../tensor/tensor.js';
import { project, stepAlong, type Norm } from './budget.js';

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
  evaluate: (x: Tensor) => Evaluated;
}

export interface PgdLoopResult {
  best: Tensor;
  bestScore: Tensor;
  /** Iteration at which each row's kept iterate was reached (0 = the start). */
  bestIteration: Int32Array;
}

export function pgdLoop(o: PgdLoopOptions): PgdLoopResult {
  const rows = o.x0.shape[0]!;
  let x = o.start.detach().keep();
  let best: Tensor | null = null;
  let bestScore: Tensor | null = null;
  const bestIteration = new Int32Array(rows);
  const consider = (xi: Tensor, score: Tensor, t: number) => {
    if (!best || !bestScore) {
      best = xi.detach().keep();
      bestScore = score.detach().keep();
      return;
    }
    const better = score.gt(bestScore);
    const flags = better.toArray<'bool'>();
    flags.forEach((f, i) => {
      if (f) bestIteration[i] = t;
    });
    const mask = better.view([rows, ...Array(xi.ndim - 1).fill(1)]);
    const nb = where(mask, xi.detach(), best).keep();
    const ns = where(better, score.detach(), bestScore).keep();
    best.dispose();
    bestScore.dispose();
    best = nb;
    bestScore = ns;
  };
  try {
    for (let t = 0; t <= o.iterations; t++) {
      const last = t === o.iterations;
      const next = scope(() => {
        const xi = x.detach().requiresGrad_(!last);
        const e = o.evaluate(xi);
        consider(xi, e.score, t);
        if (last) return null;
        const [g] = grad(e.objective.sum(), xi);
        // A zero gradient leaves the row where it is (L2 divides by ||g|| + 1e-10, never 0).
        return project(stepAlong(xi.detach(), g!, o.norm, o.stepSize), o.x0, o.norm, o.eps);
      });
      if (!next) break;
      x.dispose();
      x = next.keep();
    }
  } finally {
    x.dispose();
  }
  return { best: best!, bestScore: bestScore!, bestIteration };
}
