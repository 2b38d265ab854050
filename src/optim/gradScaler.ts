// Loss scaling for float16 training (torch.cuda.amp.GradScaler's algorithm): the loss is
// multiplied by a scale before backward so small fp16 gradients do not flush to zero, the
// gradients are divided back before the step, and a step whose gradients overflowed is
// skipped and the scale halved; after `growthInterval` clean steps the scale doubles.
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { stack, type Tensor } from '../tensor/tensor.js';
import type { Optimizer } from './optimizer.js';

/**
 * torch.cuda.amp.GradScaler's settings: the initial scale (2^16), its growth and backoff factors (2, 0.5) and the growth interval (2000 steps).
 */
export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
}

/**
 * Dynamic loss scaling for fp16 training (torch.cuda.amp.GradScaler): scale the loss, step only when every
 * gradient is finite, halve the scale on overflow and grow it after a run of finite steps.
 */
export class GradScaler {
  scale: number;
  #growth = 0;
  readonly #o: Required<GradScalerOptions>;

  constructor(o: GradScalerOptions = {}) {
    this.#o = { initScale: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, ...o };
    this.scale = this.#o.initScale;
  }

  /** The loss times the current scale; call backward on this. */
  scaleLoss(loss: Tensor): Tensor {
    return loss.mul(this.scale);
  }

  /**
   * Unscales the gradients and steps unless one of them is not finite. One host read per
   * step (PyTorch's GradScaler reads found_inf here too). Returns whether it stepped.
   */
  step(opt: Optimizer): boolean {
    const finite = scope(() =>
      noGrad(() => {
        const grads = opt.params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
        if (grads.length === 0) return true;
        for (const g of grads) g.mul_(1 / this.scale);
        return (
          stack(grads.map((g) => g.isfinite().all()))
            .all()
            .item() !== 0
        );
      }),
    );
    if (finite) opt.step();
    this.#update(finite);
    return finite;
  }

  #update(finite: boolean): void {
    if (!finite) {
      this.scale *= this.#o.backoffFactor;
      this.#growth = 0;
      return;
    }
    if (++this.#growth === this.#o.growthInterval) {
      this.scale *= this.#o.growthFactor;
      this.#growth = 0;
    }
  }

  /** For checkpoints. */
  state(): { scale: number; growth: number } {
    return { scale: this.scale, growth: this.#growth };
  }

  /** Restores the state `state()` returned. */
  loadState(s: { scale: number; growth: number }): void {
    this.scale = s.scale;
    this.#growth = s.growth;
  }
}
