// The projected-gradient loop every attack shares: ascend an objective inside the budget,
// keep each row's best iterate by a separate score (robustness' replace_best: the start and
// every iterate are scored, the last one after the final step too).
import { grad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { where, type Tensor } from '../tensor/tensor.js';
import { project, stepAlong, type Norm } from './budget.js';
import { zeros } from '../tensor/creation.js';
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
  evaluate: (x: Tensor) => Evaluated;
  /** fp32 (default), or autocast to bf16 / fp16 for the model's forward and backward. */
  precision?: Precision;
}

export interface PgdLoopResult {
  best: Tensor;
  bestScore: Tensor;
  /** Iteration at which each row's kept iterate was reached (0 = the start). */
  bestIteration: Int32Array;
}

export function pgdLoop(o: PgdLoopOptions): PgdLoopResult {
  const rows = o.x0.shape[0]!;
  const half = autocastDtype(o.precision ?? 'fp32');
  let x = o.start.detach().keep();
  let best: Tensor | null = null;
  let bestScore: Tensor | null = null;
  // Bookkeeping stays on the device: one host read at the end, none per iteration.
  let bestIt: Tensor | null = null;
  const consider = (xi: Tensor, score: Tensor, t: number) => {
    if (!best || !bestScore || !bestIt) {
      best = xi.detach().keep();
      bestScore = score.detach().float().keep();
      bestIt = zeros([rows], { dtype: 'int32', device: xi.device }).keep();
      return;
    }
    const better = score.gt(bestScore);
    const mask = better.view([rows, ...Array(xi.ndim - 1).fill(1)]);
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
        const xi = x.detach().requiresGrad_(!last);
        // Mixed precision covers the model's forward (and so its backward); the iterate,
        // the step and the projection stay float32.
        const e = autocast(xi.device, half, () => o.evaluate(xi));
        consider(xi, e.score, t);
        if (last) return null;
        const [g] = grad(e.objective.float().sum(), xi);
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
  const it: Tensor = bestIt!;
  const bestIteration = Int32Array.from(it.toArray<'int32'>());
  it.dispose();
  return { best: best!, bestScore: bestScore!, bestIteration };
}
