// Step rules for the loop (loop.ts). PGD and k-NS take the fixed step: steepest ascent by a
// constant step size, then the projection (robustness' step and project). A rule with memory,
// such as APGD's momentum with checkpoints and step-size halving, keeps it per row in `state`
// and reads each row's iteration and objective from the step's context.
import { full, fullLike, ones, tensor, zeros, zerosLike } from '../tensor/creation.js';
import { where, type Tensor } from '../tensor/tensor.js';
import { perRow, THREATS, type Norm } from './threat.js';
import type { StepRule } from './loop.js';

export function fixedStep(norm: Norm, eps: number, stepSize: number): StepRule {
  const threat = THREATS[norm];
  return {
    init: () => ({}),
    next: ({ x, g, x0, state }) => ({ x: threat.project(threat.step(x, g, stepSize), x0, eps), state }),
  };
}

/**
 * APGD's checkpoints for `iterations` steps, as autopgd_base.py counts them: the first window
 * is max(floor(0.22 n), 1) steps long, each later one max(floor(0.03 n), 1) shorter, down to
 * max(floor(0.06 n), 1). `at[j]`: the iteration whose evaluation ends window j (t = 22, 41, 57,
 * 70, 80, 87, 93, 99 for n = 100: the paper's p_j schedule); `window[j]`: its length.
 */
export function apgdCheckpoints(iterations: number): { at: number[]; window: number[] } {
  const first = Math.max(Math.trunc(0.22 * iterations), 1);
  const least = Math.max(Math.trunc(0.06 * iterations), 1);
  const shrink = Math.max(Math.trunc(0.03 * iterations), 1);
  const at: number[] = [];
  const window: number[] = [];
  for (let k = first, t = first; t <= iterations; t += k) {
    at.push(t);
    window.push(k);
    k = Math.max(k - shrink, least);
  }
  return { at, window };
}

export interface ApgdStepOptions {
  norm: Norm;
  eps: number;
  iterations: number;
  /** Halve the step at a checkpoint where at most rho of the window's steps raised the loss (default 0.75). */
  rho?: number;
}

/**
 * APGD's step (autopgd_base.py, attack_single_run) with its per-row state: the step size
 * (2 * eps at first), the previous iterate (momentum 0.75 after the first step), the best loss,
 * its point and gradient, and the counters of the checkpoint rule. The rule sees, at each
 * iteration t, the loss and the gradient of the iterate x_t (the objective the loop ascends)
 * and:
 * - keeps x_t as the best-loss point when its loss beats the best strictly (at t = 0, x_0);
 * - counts the steps that raised the loss since the last checkpoint (the first against 0: the
 *   reference compares it with loss_steps[-1], still 0 then);
 * - at a checkpoint, halves the step size of the rows where at most rho * window steps raised
 *   the loss, or where the step was not halved at the previous checkpoint and the best loss did
 *   not rise since, and moves them back to the best-loss point with its gradient;
 * - steps: z = P(x + eta * dir(g)), x' = P(x + a (z - x) + (1 - a) (x - x_prev)), a = 1 at the
 *   first step, then 0.75; P the projection onto the ball and [0, 1], as the reference computes
 *   it (Linf: min / max with x0 -+ eps; L2: x0 + d / (||d|| + 1e-12) * min(eps, ||d||)).
 * State: size [n] (step size), prev, xBest, gBest [n, ...], lossBest, lastBest, reduced, ups,
 * lastLoss [n] (float32).
 */
export function apgdStep(o: ApgdStepOptions): StepRule {
  const rho = o.rho ?? 0.75;
  const { at, window } = apgdCheckpoints(o.iterations);
  // per iteration 0..n: is it a checkpoint, and the most raising steps that still halve there
  const isCheck = new Float32Array(o.iterations + 1);
  const most = new Float32Array(o.iterations + 1);
  at.forEach((t, j) => {
    isCheck[t] = 1;
    most[t] = window[j]! * rho;
  });
  const project = o.norm === 'linf' ? linfProjection : l2Projection;
  const direction = o.norm === 'linf' ? (g: Tensor) => g.sign() : l2Unit;
  return {
    init: (start) => {
      const n = start.shape[0]!;
      const on = { device: start.device };
      return {
        size: full([n], 2 * o.eps, on),
        prev: start.detach(),
        xBest: start.detach(),
        gBest: zerosLike(start),
        lossBest: zeros([n], on),
        lastBest: zeros([n], on),
        reduced: ones([n], on),
        ups: zeros([n], on),
        lastLoss: zeros([n], on),
      };
    },
    next: ({ x, g, x0, objective: loss, t, state: s }) => {
      const n = x.shape[0]!;
      const on = { device: x.device };
      const it = typeof t === 'number' ? full([n], t, { dtype: 'int64', ...on }) : t.long();
      const table = (v: Float32Array) => tensor(v, { shape: [v.length], ...on }).indexSelect(0, it);
      const first = it.eq(0);
      // the best loss, its point and gradient (x_0's at t = 0)
      const before = where(first, loss, s.lossBest!);
      const better = loss.gt(before).logicalOr(first);
      const lossBest = where(better, loss, before);
      const xBest = where(perRow(better, x), x, s.xBest!);
      const gBest = where(perRow(better, x), g, s.gBest!);
      const lastBest0 = where(first, loss, s.lastBest!);
      const ups0 = where(first, 0, s.ups!.add(loss.gt(s.lastLoss!).float()));
      // the checkpoint rule
      const check = table(isCheck).gt(0);
      const oscillating = ups0.le(table(most));
      const stalled = s.reduced!.eq(0).logicalAnd(lastBest0.ge(lossBest));
      const halve = check.logicalAnd(oscillating.logicalOr(stalled));
      const size = where(halve, s.size!.div(2), s.size!);
      const xs = where(perRow(halve, x), xBest, x);
      const gs = where(perRow(halve, x), gBest, g);
      // the step, with momentum from the previous iterate
      const a = where(first, 1, full([n], 0.75, on));
      const z = project(xs.add(direction(gs).mul(perRow(size, x))), x0, o.eps);
      const next = project(xs.add(z.sub(xs).mul(perRow(a, x))).add(xs.sub(s.prev!).mul(perRow(a.neg().add(1), x))), x0, o.eps);
      return {
        x: next,
        state: {
          size,
          prev: xs,
          xBest,
          gBest,
          lossBest,
          lastBest: where(check, lossBest, lastBest0),
          reduced: where(check, halve.float(), s.reduced!),
          ups: where(check, 0, ups0),
          lastLoss: where(first, 0, loss),
        },
      };
    },
  };
}

function linfProjection(x: Tensor, x0: Tensor, eps: number): Tensor {
  return x.maximum(x0.sub(eps)).minimum(x0.add(eps)).clamp(0, 1);
}

/** ||v||_2 per row as [n, 1, ...], summed as the reference's L2_norm sums. */
function l2Norm(v: Tensor): Tensor {
  return perRow(v.square().flatten(1).sum(1).sqrt(), v);
}

function l2Unit(v: Tensor): Tensor {
  return v.div(l2Norm(v).add(1e-12));
}

function l2Projection(x: Tensor, x0: Tensor, eps: number): Tensor {
  const d = x.sub(x0);
  const r = l2Norm(d);
  return x0.add(l2Unit(d).mul(r.minimum(fullLike(r, eps)))).clamp(0, 1);
}
