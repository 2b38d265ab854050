// SGD, Adam and AdamW: libtorch's own implementations (torch::optim), driven from TS.
import { native, type NativeOptimizer } from '../native.js';
import type { Tensor } from '../tensor/tensor.js';

function checkNonNegative(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name} must be a non-negative number, got ${v}`);
}

/**
 * A libtorch optimizer over a list of parameters: `step()` applies one update from their gradients.
 *
 * @example
 * ```ts
 * const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 * scope(() => { opt.zeroGrad(); F.crossEntropy(model.forward(x).logits, y).backward(); opt.step(); });
 * ```
 */
export abstract class Optimizer {
  readonly native: NativeOptimizer;
  readonly params: Tensor[];

  protected constructor(kind: string, params: Tensor[], options: Record<string, number | boolean | undefined>) {
    if (params.length === 0) throw new Error('optimizer got an empty parameter list');
    checkNonNegative('lr', options.lr as number | undefined);
    checkNonNegative('weightDecay', options.weightDecay as number | undefined);
    this.params = params;
    this.native = new native.Optimizer(
      kind,
      params.map((p) => p.native),
      options,
    );
  }

  /** One update from the gradients accumulated in the parameters. */
  step(): void {
    this.native.step();
  }

  /** Sets every parameter's gradient to none. */
  zeroGrad(): void {
    this.native.zeroGrad();
  }

  get lr(): number {
    return this.native.getLr();
  }

  set lr(v: number) {
    checkNonNegative('lr', v);
    this.native.setLr(v);
  }

  /** Momentum buffers / moments / step counts as bytes (libtorch archive), for checkpoints. */
  saveState(): Buffer {
    return this.native.saveState();
  }

  /** Restores the state `saveState()` returned (same parameters, same optimizer kind). */
  loadState(state: Buffer): void {
    this.native.loadState(state);
  }
}

/** torch.optim.SGD's settings: learning rate, momentum, dampening, weight decay, Nesterov. */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** torch.optim.SGD semantics (first momentum buffer = gradient, weight decay added to grad). */
export class SGD extends Optimizer {
  constructor(params: Tensor[], opts: SGDOptions) {
    checkNonNegative('momentum', opts.momentum);
    if (opts.nesterov && (!opts.momentum || opts.dampening)) {
      throw new RangeError('nesterov momentum requires a momentum > 0 and zero dampening');
    }
    super('sgd', params, { ...opts });
  }
}

/** torch.optim.Adam's settings: learning rate, betas, eps, weight decay, AMSGrad. */
export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
}

function adamOptions(opts: AdamOptions): Record<string, number | boolean | undefined> {
  const [beta1, beta2] = opts.betas ?? [0.9, 0.999];
  for (const [n, b] of [
    ['beta1', beta1],
    ['beta2', beta2],
  ] as const) {
    if (!(b >= 0 && b < 1)) throw new RangeError(`${n} must be in [0, 1), got ${b}`);
  }
  return { lr: opts.lr, beta1, beta2, eps: opts.eps, weightDecay: opts.weightDecay, amsgrad: opts.amsgrad };
}

/** torch.optim.Adam semantics (libtorch's implementation; weight decay added to the gradient). */
export class Adam extends Optimizer {
  constructor(params: Tensor[], opts: AdamOptions = {}) {
    super('adam', params, adamOptions(opts));
  }
}

/** torch.optim.AdamW semantics (libtorch's implementation; decoupled weight decay). */
export class AdamW extends Optimizer {
  constructor(params: Tensor[], opts: AdamOptions = {}) {
    super('adamw', params, adamOptions(opts));
  }
}
