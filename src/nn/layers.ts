// Layers with PyTorch's names, parameter names and default initialisations.
import { getWorldSize, hasGloo, syncBatchNorm } from '../tensor/distributed.js';
import { zeros, ones, empty, tensor } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import * as F from './functional.js';
import type { StackPart } from './convStack.js';
import { kaimingUniform_, uniform_, fans } from './init.js';
import { Module, type AnyModule } from './module.js';

export { Sequential } from './sequential.js';

/** A size for both spatial dimensions, or [height, width]. */
type Pair = number | [number, number];

const pairOf = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : p);

/** How a layer draws its initial weights. */
export interface InitOptions {
  /** Generator for the initial weights (deterministic models for a given seed). */
  generator?: Generator;
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/**
 * 2-d convolution as torch.nn.Conv2d: input [N, inChannels, H, W], weight
 * [outChannels, inChannels / groups, kh, kw], PyTorch's default initialisation.
 */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: Pair,
    readonly opts: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean } & InitOptions = {},
  ) {
    super();
    checkPositiveInt('inChannels', inChannels);
    checkPositiveInt('outChannels', outChannels);
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    const groups = opts.groups ?? 1;
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels / groups, kh, kw]))!;
    // reset_parameters: kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator: opts.generator });
    if (opts.bias ?? true) {
      const b = empty([outChannels]);
      const bound = 1 / Math.sqrt(fans(this.weight.shape).fanIn);
      uniform_(b, -bound, bound, opts.generator);
      this.bias = this.registerParameter('bias', b);
    } else {
      this.bias = this.registerParameter('bias', null);
    }
  }

  /**
   * While a following batch norm is folded in (withFoldedBatchNorm): the weight and bias that
   * compute conv then batch norm in one convolution. The parameters themselves are untouched.
   */
  folded: { weight: Tensor; bias: Tensor } | null = null;

  /** As a convolution stack runs it: a square kernel, stride 1, symmetric padding, no dilation or groups. */
  stackPart(): StackPart | null {
    const [kh, kw] = pairOf(this.kernelSize);
    const [ph, pw] = pairOf(this.opts.padding ?? 0);
    const plain = [this.opts.stride ?? 1, this.opts.dilation ?? 1].every((p) => pairOf(p).every((v) => v === 1));
    if (!(kh === kw && ph === pw && plain && (this.opts.groups ?? 1) === 1)) return null;
    const f = this.folded;
    return { kind: 'conv', weight: f ? f.weight : this.weight, bias: f ? f.bias : this.bias, kernel: kh, padding: ph };
  }

  forward(x: Tensor): Tensor {
    const f = this.folded;
    return F.conv2d(x, f ? f.weight : this.weight, f ? f.bias : this.bias, {
      stride: this.opts.stride ?? 1,
      padding: this.opts.padding ?? 0,
      dilation: this.opts.dilation ?? 1,
      groups: this.opts.groups ?? 1,
    });
  }
}

/**
 * Affine map as torch.nn.Linear: y = x W^T + b, weight [outFeatures, inFeatures], input [..., inFeatures].
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } & InitOptions = {},
  ) {
    super();
    checkPositiveInt('inFeatures', inFeatures);
    checkPositiveInt('outFeatures', outFeatures);
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]))!;
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator: opts.generator });
    if (opts.bias ?? true) {
      const b = empty([outFeatures]);
      const bound = 1 / Math.sqrt(inFeatures);
      uniform_(b, -bound, bound, opts.generator);
      this.bias = this.registerParameter('bias', b);
    } else {
      this.bias = this.registerParameter('bias', null);
    }
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

/**
 * Batch normalisation over the channels of [N, C, H, W] as torch.nn.BatchNorm2d (affine, running statistics).
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;

  constructor(
    readonly numFeatures: number,
    readonly opts: { eps?: number; momentum?: number } = {},
  ) {
    super();
    checkPositiveInt('numFeatures', numFeatures);
    this.weight = this.registerParameter('weight', ones([numFeatures]))!;
    this.bias = this.registerParameter('bias', zeros([numFeatures]))!;
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]))!;
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures]))!;
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', tensor(new BigInt64Array([0n]), { shape: [] }))!;
  }

  /**
   * Normalise over every data-parallel rank's batch while training (PyTorch's SyncBatchNorm);
   * by default each rank uses its own batch, as DDP does. A lone process then uses the same
   * kernel on its batch (float64 statistics), so its steps and the ranks' agree to rounding.
   */
  sync = false;

  /** Folded into the convolution before it (withFoldedBatchNorm): passes its input through in eval mode. */
  folded = false;

  /** As a convolution stack runs it: passed through when folded, in eval mode; otherwise not at all. */
  stackPart(): StackPart | null {
    return this.folded && !this.training ? { kind: 'identity' } : null;
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new Error(`BatchNorm2d expects a 4-d input [N, C, H, W], got [${x.shape.join(', ')}]`);
    // a new handle, as every layer returns: callers free their input after the call
    if (this.folded && !this.training) return x.view(x.shape);
    if (this.training) noGrad(() => this.numBatchesTracked.add_(1));
    if (this.training && this.sync && (getWorldSize() > 1 || hasGloo())) {
      return syncBatchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, this.opts.momentum ?? 0.1, this.opts.eps ?? 1e-5);
    }
    return F.batchNorm(
      x,
      this.runningMean,
      this.runningVar,
      this.weight,
      this.bias,
      this.training,
      this.opts.momentum ?? 0.1,
      this.opts.eps ?? 1e-5,
    );
  }
}

/** max(x, 0) as torch.nn.ReLU. */
export class ReLU extends Module {
  /** As a convolution stack runs it: its convolution's post-op. */
  stackPart(): StackPart {
    return { kind: 'relu' };
  }

  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/** 2-d max pooling as torch.nn.MaxPool2d (stride defaults to the kernel size). */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly stride?: Pair,
    readonly padding: Pair = 0,
  ) {
    super();
  }

  /** As a convolution stack runs it: square windows that tile the input. */
  stackPart(): StackPart | null {
    const [kh, kw] = pairOf(this.kernelSize);
    const [sh, sw] = pairOf(this.stride ?? this.kernelSize);
    return kh === kw && sh === kh && sw === kw && pairOf(this.padding).every((v) => v === 0) ? { kind: 'pool', kernel: kh } : null;
  }

  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.stride, this.padding);
  }
}

/** 2-d average pooling as torch.nn.AvgPool2d (stride defaults to the kernel size). */
export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly stride?: Pair,
    readonly padding: Pair = 0,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.stride, this.padding);
  }
}

/** Average pooling to a fixed output size as torch.nn.AdaptiveAvgPool2d. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }

  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** Merges dimensions startDim..endDim (default: all but the batch) as torch.nn.Flatten. */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}

/**
 * Zeroes elements with probability p in training mode and scales the rest by 1 / (1 - p), as torch.nn.Dropout.
 */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout probability must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

/** Passes its input through unchanged, as torch.nn.Identity. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x.clone();
  }
}

/** Switches every BatchNorm2d inside `m` to synchronised statistics (PyTorch's convert_sync_batchnorm); returns how many. */
export function convertSyncBatchNorm(m: AnyModule, on = true): number {
  let n = 0;
  for (const [, sub] of m.namedModules()) {
    if (sub instanceof BatchNorm2d) {
      sub.sync = on;
      n++;
    }
  }
  return n;
}
