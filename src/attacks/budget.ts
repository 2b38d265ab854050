// Perturbation budgets with the reference library's (robustness) conventions, all per sample:
// the checks, norms, and the random start, step and projection of each norm's threat model
// (threat.ts).
import { randn, rand } from '../tensor/creation.js';
import type { Generator } from '../tensor/random.js';
import { hostSide } from '../tensor/deviceState.js';
import { scope } from '../tensor/scope.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { NORMS, THREATS, type Norm } from './threat.js';

export { NORMS, THREATS, type Norm, type ThreatModel } from './threat.js';

export function checkBudget(norm: string, eps: number): asserts norm is Norm {
  if (!(NORMS as readonly string[]).includes(norm)) throw new Error(`unknown norm '${norm}' (expected ${NORMS.join(' or ')})`);
  if (!(Number.isFinite(eps) && eps > 0)) throw new RangeError(`eps must be a positive number, got ${eps}`);
}

/** Per-sample norms of x's rows [B, ...] -> [B]. */
export function sampleNorms(x: Tensor, norm: Norm): Tensor {
  return scope(() => x.flatten(1).norm(THREATS[norm].p, 1));
}

/**
 * A random start inside the budget, one generator per row so a row's start depends only on
 * its own seed. L2: x + eps * r / ||r|| with r Gaussian; Linf: x + U(-eps, eps). Clipped to [0, 1].
 */
export function randomStart(x: Tensor, norm: Norm, eps: number, generators: Generator[]): Tensor {
  return scope(() => {
    const shape = x.shape.slice(1);
    if (generators.length !== x.shape[0]) throw new Error('randomStart: one generator per row');
    const draw = THREATS[norm].noise === 'normal' ? randn : rand;
    // Drawn on the host from per-row CPU generators, so starts are the same on every device.
    const host = hostSide(() =>
      cat(
        generators.map((g) => draw([1, ...shape], { generator: g })),
        0,
      ),
    );
    return THREATS[norm].start(x, x.device === 'cpu' ? host : host.to(x.device), eps);
  });
}

/** One ascent step along g: L2 along g / ||g|| per sample, Linf along sign(g). */
export function stepAlong(x: Tensor, g: Tensor, norm: Norm, stepSize: number): Tensor {
  return scope(() => THREATS[norm].step(x, g, stepSize));
}

/** Projects x onto the budget around x0 and onto [0, 1] (L2 via renorm, as robustness does). */
export function project(x: Tensor, x0: Tensor, norm: Norm, eps: number): Tensor {
  return scope(() => THREATS[norm].project(x, x0, eps));
}

/**
 * Asserts every row of xAdv lies in [0, 1] and within eps of x0 (up to float rounding);
 * throws naming the first violation.
 */
export function assertInBudget(xAdv: Tensor, x0: Tensor, norm: Norm, eps: number): void {
  scope(() => {
    const lo = xAdv.min().item();
    const hi = xAdv.max().item();
    if (!(lo >= 0 && hi <= 1)) throw new Error(`attack produced pixels outside [0, 1] (${lo}, ${hi})`);
    const n = sampleNorms(xAdv.sub(x0), norm).toArray<'float32'>();
    const tol = eps * 1e-5 + 1e-6;
    for (let i = 0; i < n.length; i++) {
      if (!(n[i]! <= eps + tol)) throw new Error(`attack produced a perturbation of ${norm} norm ${n[i]} > eps ${eps} (row ${i})`);
    }
  });
}
