// The threat models, one entry per norm, in the manner of robustness' attack_steps.py (LinfStep,
// L2Step): how a random start is drawn, the steepest-ascent step, and the projection onto the
// ball and [0, 1], all per row. A new norm (L1) is one more entry here and in `Norm`.
import type { Tensor } from '../tensor/tensor.js';

/**
 * The threat model's norm: the perturbation's L2 norm or its largest absolute pixel change (Linf), pixels in [0, 1].
 */
export type Norm = 'l2' | 'linf';

export interface ThreatModel {
  /** The p of the norm (sampleNorms). */
  readonly p: number;
  /** What a random start draws, per row from its own generator: N(0, 1) or U(0, 1) per pixel. */
  readonly noise: 'normal' | 'uniform';
  /** The start point from x and that noise, inside the ball and [0, 1]. */
  start(x: Tensor, noise: Tensor, eps: number): Tensor;
  /** One ascent step of length `size` along g. */
  step(x: Tensor, g: Tensor, size: number): Tensor;
  /** x projected onto the ball of radius eps around x0, then onto [0, 1]. */
  project(x: Tensor, x0: Tensor, eps: number): Tensor;
}

/** v [B] as [B, 1, ...] against like's rank, to scale or pick whole rows. */
export function perRow(v: Tensor, like: Tensor): Tensor {
  return v.view([v.shape[0]!, ...Array(like.ndim - 1).fill(1)]);
}

/** x / ||x||_2 per row; + 1e-10 so a zero row stays zero (robustness' L2Step). */
function unitRows(x: Tensor): Tensor {
  return x.div(perRow(x.flatten(1).norm(2, 1), x).add(1e-10));
}

export const THREATS: Record<Norm, ThreatModel> = {
  l2: {
    p: 2,
    // a Gaussian direction on the sphere of radius eps (robustness renorms a centred uniform draw, which
    // for every eps below that draw's norm lands on the sphere too)
    noise: 'normal',
    start: (x, noise, eps) => x.add(unitRows(noise).mul(eps)).clamp(0, 1),
    step: (x, g, size) => x.add(unitRows(g).mul(size)),
    // renorm, as robustness does
    project: (x, x0, eps) => x0.add(x.sub(x0).renorm(2, 0, eps)).clamp(0, 1),
  },
  linf: {
    p: Infinity,
    noise: 'uniform',
    start: (x, noise, eps) => x.add(noise.sub(0.5).mul(2 * eps)).clamp(0, 1),
    step: (x, g, size) => x.add(g.sign().mul(size)),
    project: (x, x0, eps) => x0.add(x.sub(x0).clamp(-eps, eps)).clamp(0, 1),
  },
};

/** Every norm an attack takes. */
export const NORMS = Object.keys(THREATS) as Norm[];
