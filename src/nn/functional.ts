// Functional neural-network ops (torch.nn.functional), each one ATen operator (tiled max pooling:
// the addon's own forward, tensor/pool.ts).
import { op, f64 } from '../tensor/op.js';
import { type Tensor, wrap } from '../tensor/tensor.js';
import { maxPool2dTiled } from '../tensor/pool.js';
import { conv2dNative } from '../tensor/conv.js';

/** A size for both spatial dimensions, or [height, width]. */
type Pair = number | [number, number];

/**
 * A lone sample sent through as two: libtorch (and BLIS) compute a batch of one in another
 * summation order than the same sample in any larger batch, so a row's output, and its
 * gradient, would depend on the batch it came in (test/unit/blas.test.ts). Should the op fail, it
 * runs again as given, so that libtorch's message names the caller's shape.
 */
function loneAsTwo(input: Tensor, call: (x: Tensor) => Tensor): Tensor {
  const two = input.expand([2, ...input.shape.slice(1)]);
  let out: Tensor;
  try {
    out = call(two);
  } catch {
    two.dispose();
    return call(input);
  }
  const one = out.slice(0, 0, 1);
  two.dispose();
  out.dispose();
  return one;
}

/**
 * 2-d convolution as torch.nn.functional.conv2d: input [N, C, H, W], weight [O, C / groups, kh, kw], bias [O].
 */
export function conv2d(
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  { stride = 1 as Pair, padding = 0 as Pair, dilation = 1 as Pair, groups = 1 } = {},
): Tensor {
  const call = (x: Tensor) => conv2dNative(x, weight, bias, stride, padding, dilation, groups);
  // a lone image: up to 4e-7 from the same image in a batch on the small CNN (batches of 2 to 96 agree bitwise)
  return input.ndim === 4 && input.shape[0] === 1 ? loneAsTwo(input, call) : call(input);
}

/** x W^T + b as torch.nn.functional.linear: input [..., in], weight [out, in], bias [out]. */
export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const call = (x: Tensor) => wrap(op('linear').call(x.native, weight.native, bias?.native ?? null));
  // a lone row: BLIS multiplies it with gemv instead of gemm
  return input.ndim === 2 && input.shape[0] === 1 ? loneAsTwo(input, call) : call(input);
}

/** Batch norm; in training mode libtorch updates runningMean/runningVar in place. */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return wrap(
    op('batch_norm').call(
      input.native,
      weight?.native ?? null,
      bias?.native ?? null,
      runningMean?.native ?? null,
      runningVar?.native ?? null,
      training,
      momentum,
      eps,
      true,
    ),
  );
}

/** max(x, 0), elementwise. */
export function relu(x: Tensor): Tensor {
  return x.relu();
}

/**
 * ReLU in the forward pass, identity in the backward pass: the reference's "fake ReLU",
 * so gradients reach features that are currently zero.
 */
export function fakeRelu(x: Tensor): Tensor {
  const r = x.relu();
  const rd = r.detach();
  const xd = x.detach();
  const diff = x.sub(xd);
  const out = rd.add(diff);
  for (const t of [r, rd, xd, diff]) t.dispose();
  return out;
}

const pairOf = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : p);

/**
 * Windows that tile the input (kernel = stride, no padding or dilation) go to the addon
 * (tensor/pool.ts), which runs its own forward on CPU float32 NCHW input (libtorch's values,
 * indices and backward, faster) and libtorch's max_pool2d on anything else.
 */
export function maxPool2d(
  x: Tensor,
  kernelSize: Pair,
  stride?: Pair,
  padding: Pair = 0,
  { dilation = 1 as Pair, ceilMode = false } = {},
): Tensor {
  const [kh, kw] = pairOf(kernelSize);
  const [sh, sw] = pairOf(stride ?? kernelSize);
  const [ph, pw] = pairOf(padding);
  const [dh, dw] = pairOf(dilation);
  // anything odd (fractional or non-positive windows) goes to libtorch, whose message names it
  const tiled =
    Number.isInteger(kh) &&
    Number.isInteger(kw) &&
    kh >= 1 &&
    kw >= 1 &&
    kh === sh &&
    kw === sw &&
    ph === 0 &&
    pw === 0 &&
    dh === 1 &&
    dw === 1 &&
    !ceilMode;
  if (tiled) return maxPool2dTiled(x, kh, kw);
  return wrap(op('max_pool2d').call(x.native, kernelSize, stride ?? kernelSize, padding, dilation, ceilMode));
}

/** 2-d average pooling as torch.nn.functional.avg_pool2d (stride defaults to the kernel size). */
export function avgPool2d(
  x: Tensor,
  kernelSize: Pair,
  stride?: Pair,
  padding: Pair = 0,
  { ceilMode = false, countIncludePad = true } = {},
): Tensor {
  return wrap(op('avg_pool2d').call(x.native, kernelSize, stride ?? kernelSize, padding, ceilMode, countIncludePad));
}

/** Average pooling of [N, C, H, W] to [N, C, outputSize] as torch.nn.functional.adaptive_avg_pool2d. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  return wrap(op('adaptive_avg_pool2d').call(x.native, outputSize));
}

/** Dropout with libtorch's default generator (seed it with manualSeed). */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout probability must be in [0, 1], got ${p}`);
  return wrap(op('dropout').call(x.native, f64(p), training));
}

/** How a loss reduces over the batch: per element ('none'), the mean or the sum. */
export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function reductionCode(r: Reduction): number {
  const c = REDUCTION[r];
  if (c === undefined) throw new TypeError(`unknown reduction '${r}' (expected none, mean or sum)`);
  return c;
}

/** Cross-entropy of logits [N, C] against int64 class indices [N]. */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  { reduction = 'mean' as Reduction, labelSmoothing = 0, weight = null as Tensor | null } = {},
): Tensor {
  return wrap(
    op('cross_entropy_loss').call(
      logits.native,
      target.native,
      weight?.native ?? null,
      reductionCode(reduction),
      -100,
      f64(labelSmoothing),
    ),
  );
}

/** Negative log-likelihood of log-probabilities [N, C] at int64 class indices [N]. */
export function nllLoss(logProbs: Tensor, target: Tensor, { reduction = 'mean' as Reduction } = {}): Tensor {
  return wrap(op('nll_loss').call(logProbs.native, target.native, null, reductionCode(reduction), -100));
}

/** Mean squared error between two tensors of one shape (reduced by `reduction`). */
export function mseLoss(input: Tensor, target: Tensor, { reduction = 'mean' as Reduction } = {}): Tensor {
  return wrap(op('mse_loss').call(input.native, target.native, reductionCode(reduction)));
}

/** Softmax along `dim`. */
export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}

/** log(softmax(x)) along `dim`, computed stably. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return x.logSoftmax(dim);
}

/** One-hot rows [..., numClasses] (int64) of int64 class indices. */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  return wrap(op('one_hot').call(indices.native, numClasses));
}

/** Constant padding of the last dims: pad = [left, right, top, bottom, ...]. */
export function pad(x: Tensor, padding: number[], value = 0): Tensor {
  return wrap(op('constant_pad_nd').call(x.native, padding, f64(value)));
}
