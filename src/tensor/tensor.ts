// The typed tensor facade over libtorch's at::Tensor. Method names follow PyTorch's
// (camelCase); every method is one ATen operator called through the registry.
import { native as addon, type NativeTensor, type NativeValue } from '../native.js';
import type { AnyTypedArray, DType, TypedArrayFor } from './dtype.js';
import { f64, op } from './op.js';
import { track, untrack, type Scoped } from './scope.js';
import type { Generator } from './random.js';
import { canonicalDevice, state as deviceState, type Device } from './deviceState.js';
import { DTYPES } from './dtype.js';

/** A plain number where an operator takes a scalar (converted to the tensor's dtype by libtorch). */
export type Scalar = number;
/** An operand that is either a tensor (broadcast against the other) or a number. */
export type TensorOrScalar = Tensor | Scalar;
/** One dimension or several (negative dimensions count from the end). */
export type Dims = number | number[];

/** How a 4-D tensor's elements lie in memory: NCHW ('contiguous') or NHWC ('channels_last'). */
export type MemoryFormat = 'contiguous' | 'channels_last';

/** Wraps a native result: tensors become Tensors, arrays are mapped element-wise. */
export function wrap(v: NativeValue): Tensor {
  if (typeof v !== 'number') throw new Error('expected a tensor result');
  return new Tensor(v);
}

export function wrapMany(v: NativeValue): Tensor[] {
  if (!Array.isArray(v)) throw new Error('expected several tensor results');
  return v.map((x) => wrap(x));
}

const T = addon.tensor;

// Safety net for tensors that were never disposed: free them when the JS object is collected.
// Explicit disposal unregisters, so a reused id is never freed twice.
const collected = new FinalizationRegistry<NativeTensor>((id) => T.dispose(id));

/**
 * A libtorch tensor (at::Tensor) held from JavaScript: its methods follow PyTorch's names in camelCase,
 * each one ATen operator called through libtorch's registry, so broadcasting, type promotion and
 * gradients are libtorch's own. The native memory is freed by `dispose()` or by the enclosing
 * {@link scope}; `keep()` takes a tensor out of its scope.
 *
 * @example
 * ```ts
 * const y = scope(() => x.mul(2).add(1).sum(1)); // the intermediates are freed, y is kept
 * y.dispose();
 * ```
 */
export class Tensor implements Scoped {
  _scope: Set<Scoped> | null = null;
  #id: NativeTensor;

  constructor(id: NativeTensor) {
    this.#id = id;
    collected.register(this, id, this);
    track(this);
    if (deviceState.guard !== null && deviceState.guardPaused === 0) checkGuard(this);
  }

  /** The native id; throws once disposed. */
  get native(): NativeTensor {
    if (this.#id === 0) throw new Error('tensor was already disposed');
    return this.#id;
  }

  // ---- lifetime -------------------------------------------------------------------------

  /** Frees the native memory now. Idempotent. */
  dispose(): void {
    if (this.#id === 0) return;
    collected.unregister(this);
    T.dispose(this.#id);
    this.#id = 0;
  }

  /** Frees the native memory, for `using t = ...`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  get isDisposed(): boolean {
    return this.#id === 0;
  }

  /** Takes the tensor out of the enclosing scope: the caller must dispose it. */
  keep(): this {
    untrack(this);
    return this;
  }

  // ---- metadata -------------------------------------------------------------------------

  get shape(): number[] {
    return T.shape(this.native);
  }

  get dtype(): DType {
    return T.dtype(this.native) as DType;
  }

  get device(): string {
    return T.device(this.native);
  }

  get ndim(): number {
    return T.shape(this.native).length;
  }

  /** The number of elements (the product of the shape). */
  numel(): number {
    return T.numel(this.native);
  }

  /** The length of dimension `dim` (negative counts from the end). */
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`dimension ${dim} out of range for a ${s.length}-d tensor`);
    return s[d]!;
  }

  // ---- data -----------------------------------------------------------------------------

  /** A copy of the elements in row-major order (int64 as BigInt64Array, bool as Uint8Array). */
  toArray<D extends DType = DType>(): TypedArrayFor<D> {
    return T.toArray(this.native) as TypedArrayFor<D>;
  }

  /** A copy of the elements as float32 in row-major order (other dtypes converted). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return T.toArray(this.native) as Float32Array;
    const t = this.to('float32');
    try {
      return T.toArray(t.native) as Float32Array;
    } finally {
      t.dispose();
    }
  }

  /** Elements as plain numbers (int64 converted with Number()). */
  toNumbers(): number[] {
    const a = T.toArray(this.native) as AnyTypedArray;
    return Array.from(a as ArrayLike<number | bigint>, (x) => Number(x));
  }

  /** The value of a one-element tensor as a number. */
  item(): number {
    const v = T.item(this.native);
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }

  /** Overwrites the elements in place from a typed array of the same dtype and length. */
  setData(data: AnyTypedArray): this {
    T.copyFromArray(this.native, data);
    return this;
  }

  // ---- autograd -------------------------------------------------------------------------

  get requiresGrad(): boolean {
    return T.requiresGrad(this.native);
  }

  set requiresGrad(on: boolean) {
    T.setRequiresGrad(this.native, on);
  }

  /** Sets whether autograd records operations on this tensor (a leaf); returns this. */
  requiresGrad_(on = true): this {
    T.setRequiresGrad(this.native, on);
    return this;
  }

  /** The accumulated gradient (a new handle each call; dispose it or use a scope), or null. */
  get grad(): Tensor | null {
    const g = T.grad(this.native);
    return g ? new Tensor(g) : null;
  }

  set grad(g: Tensor | null) {
    T.setGrad(this.native, g ? g.native : null);
  }

  get isLeaf(): boolean {
    return T.isLeaf(this.native);
  }

  /** Backpropagates from this tensor (a scalar, or with `gradient` of its shape) into the leaves' `.grad`. */
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    T.backward(this.native, gradient?.native ?? null, opts.retainGraph, opts.createGraph ?? false);
  }

  /** The same data, cut from the autograd graph. */
  detach(): Tensor {
    return wrap(op('detach').call(this.native));
  }

  /** Same storage, identical tensor object in libtorch. */
  sameAs(other: Tensor): boolean {
    return T.sameAs(this.native, other.native);
  }

  // ---- conversion and copies ------------------------------------------------------------

  /**
   * A copy on another device and/or of another dtype (this tensor itself, re-wrapped, when
   * nothing changes, as PyTorch). `nonBlocking` overlaps a host-device copy with compute.
   */
  to(target: DType | Device | { dtype?: DType; device?: Device; nonBlocking?: boolean }): Tensor {
    const o =
      typeof target === 'string'
        ? (DTYPES as readonly string[]).includes(target)
          ? { dtype: target as DType }
          : { device: target }
        : target;
    if (o.device === undefined) return wrap(op('to', 'dtype').call(this.native, o.dtype!));
    return wrap(op('to', 'dtype_layout').call(this.native, o.dtype ?? null, null, o.device, null, o.nonBlocking ?? false));
  }

  /** A copy on the host (this tensor itself when it is already there). */
  cpu(): Tensor {
    return this.to('cpu');
  }

  /** A copy in page-locked host memory, from which host-to-GPU copies can run asynchronously. */
  pinMemory(): Tensor {
    return wrap(op('pin_memory').call(this.native));
  }

  /** Relays this tensor's data out in place (same id, same autograd leaf), as `p.data = p.contiguous(format)`. */
  toMemoryFormat_(format: MemoryFormat): this {
    return this.#takeData(this.contiguous(format));
  }

  /** Moves this tensor's data in place (same id, same autograd leaf), as `p.data = p.to(d)`. */
  moveTo_(device: Device): this {
    return this.#takeData(this.to(device));
  }

  /** `this.data = replacement`, then frees the replacement's handle. */
  #takeData(replacement: Tensor): this {
    try {
      addon.setData(this.native, replacement.native);
    } finally {
      replacement.dispose();
    }
    return this;
  }

  /** A float32 copy. */
  float(): Tensor {
    return this.to('float32');
  }

  /** An int64 copy. */
  long(): Tensor {
    return this.to('int64');
  }

  /** A bool copy (non-zero is true). */
  bool(): Tensor {
    return this.to('bool');
  }

  /** A copy with its own storage (autograd records it). */
  clone(): Tensor {
    return wrap(op('clone').call(this.native));
  }

  /** A copy in the given memory layout ('contiguous': NCHW, 'channels_last': NHWC strides). */
  contiguous(format: MemoryFormat = 'contiguous'): Tensor {
    return wrap(format === 'contiguous' ? op('contiguous').call(this.native) : op('contiguous').call(this.native, format));
  }

  /** The step in elements between neighbours along `dim` (channels_last: 1 along dim 1). */
  stride(dim: number): number {
    return op('stride', 'int').call(this.native, dim) as number;
  }

  // ---- elementwise arithmetic -----------------------------------------------------------

  /** this + alpha * other, elementwise with broadcasting (alpha defaults to 1). */
  add(other: TensorOrScalar, alpha?: number): Tensor {
    return typeof other === 'number'
      ? wrap(op('add', 'Scalar').call(this.native, other, alpha))
      : wrap(op('add', 'Tensor').call(this.native, other.native, alpha));
  }

  /** this - alpha * other, elementwise with broadcasting (alpha defaults to 1). */
  sub(other: TensorOrScalar, alpha?: number): Tensor {
    return typeof other === 'number'
      ? wrap(op('sub', 'Scalar').call(this.native, other, alpha))
      : wrap(op('sub', 'Tensor').call(this.native, other.native, alpha));
  }

  /** this * other, elementwise with broadcasting. */
  mul(other: TensorOrScalar): Tensor {
    return typeof other === 'number'
      ? wrap(op('mul', 'Scalar').call(this.native, other))
      : wrap(op('mul', 'Tensor').call(this.native, other.native));
  }

  /** True division (Python's /): integers divide to floats. */
  div(other: TensorOrScalar): Tensor {
    return typeof other === 'number'
      ? wrap(op('div', 'Scalar').call(this.native, f64(other)))
      : wrap(op('div', 'Tensor').call(this.native, other.native));
  }

  /** -this, elementwise. */
  neg(): Tensor {
    return wrap(op('neg').call(this.native));
  }

  /** |this|, elementwise. */
  abs(): Tensor {
    return wrap(op('abs').call(this.native));
  }

  /** this ** exponent, elementwise. */
  pow(exponent: TensorOrScalar): Tensor {
    return typeof exponent === 'number'
      ? wrap(op('pow', 'Tensor_Scalar').call(this.native, exponent))
      : wrap(op('pow', 'Tensor_Tensor').call(this.native, exponent.native));
  }

  /** this * this, elementwise. */
  square(): Tensor {
    return wrap(op('square').call(this.native));
  }

  /** The square root, elementwise. */
  sqrt(): Tensor {
    return wrap(op('sqrt').call(this.native));
  }

  /** e ** this, elementwise. */
  exp(): Tensor {
    return wrap(op('exp').call(this.native));
  }

  /** The natural logarithm, elementwise. */
  log(): Tensor {
    return wrap(op('log').call(this.native));
  }

  /** 1 / this, elementwise. */
  reciprocal(): Tensor {
    return wrap(op('reciprocal').call(this.native));
  }

  /** -1, 0 or 1 by the sign of each element. */
  sign(): Tensor {
    return wrap(op('sign').call(this.native));
  }

  /** Rounds each element down. */
  floor(): Tensor {
    return wrap(op('floor').call(this.native));
  }

  /** max(this, 0), elementwise. */
  relu(): Tensor {
    return wrap(op('relu').call(this.native));
  }

  /** 1 / (1 + e ** -this), elementwise. */
  sigmoid(): Tensor {
    return wrap(op('sigmoid').call(this.native));
  }

  /** The hyperbolic tangent, elementwise. */
  tanh(): Tensor {
    return wrap(op('tanh').call(this.native));
  }

  /** The elementwise maximum of this and other (broadcast). */
  maximum(other: Tensor): Tensor {
    return wrap(op('maximum').call(this.native, other.native));
  }

  /** The elementwise minimum of this and other (broadcast). */
  minimum(other: Tensor): Tensor {
    return wrap(op('minimum').call(this.native, other.native));
  }

  /** Clamps to [min, max]; either bound may be omitted (null) and may be a tensor. */
  clamp(min: TensorOrScalar | null, max: TensorOrScalar | null = null): Tensor {
    if ((min === null || typeof min === 'number') && (max === null || typeof max === 'number')) {
      return wrap(op('clamp').call(this.native, min === null ? null : f64(min), max === null ? null : f64(max)));
    }
    const asT = (b: TensorOrScalar | null): NativeTensor | null => (b === null ? null : typeof b === 'number' ? null : b.native);
    if (typeof min === 'number' || typeof max === 'number') {
      throw new TypeError('clamp: give both bounds as tensors or both as numbers');
    }
    return wrap(op('clamp', 'Tensor').call(this.native, asT(min), asT(max)));
  }

  // ---- comparisons and logic -------------------------------------------------------------

  #cmp(name: string, other: TensorOrScalar): Tensor {
    return typeof other === 'number'
      ? wrap(op(name, 'Scalar').call(this.native, other))
      : wrap(op(name, 'Tensor').call(this.native, other.native));
  }

  /** this == other, elementwise: a bool tensor. */
  eq(other: TensorOrScalar): Tensor {
    return this.#cmp('eq', other);
  }
  /** this != other, elementwise: a bool tensor. */
  ne(other: TensorOrScalar): Tensor {
    return this.#cmp('ne', other);
  }
  /** this < other, elementwise: a bool tensor. */
  lt(other: TensorOrScalar): Tensor {
    return this.#cmp('lt', other);
  }
  /** this <= other, elementwise: a bool tensor. */
  le(other: TensorOrScalar): Tensor {
    return this.#cmp('le', other);
  }
  /** this > other, elementwise: a bool tensor. */
  gt(other: TensorOrScalar): Tensor {
    return this.#cmp('gt', other);
  }
  /** this >= other, elementwise: a bool tensor. */
  ge(other: TensorOrScalar): Tensor {
    return this.#cmp('ge', other);
  }

  /** Elementwise logical and: a bool tensor. */
  logicalAnd(other: Tensor): Tensor {
    return wrap(op('logical_and').call(this.native, other.native));
  }

  /** Elementwise logical or: a bool tensor. */
  logicalOr(other: Tensor): Tensor {
    return wrap(op('logical_or').call(this.native, other.native));
  }

  /** Elementwise logical not: a bool tensor. */
  logicalNot(): Tensor {
    return wrap(op('logical_not').call(this.native));
  }

  /** Whether each element is finite: a bool tensor. */
  isfinite(): Tensor {
    return wrap(op('isfinite').call(this.native));
  }

  /** Whether each element is +inf or -inf: a bool tensor. */
  isinf(): Tensor {
    return wrap(op('isinf').call(this.native));
  }

  /** Whether each element is NaN: a bool tensor. */
  isnan(): Tensor {
    return wrap(op('isnan').call(this.native));
  }

  /** Elements where mask is true are replaced by value. */
  maskedFill(mask: Tensor, value: TensorOrScalar): Tensor {
    return typeof value === 'number'
      ? wrap(op('masked_fill', 'Scalar').call(this.native, mask.native, f64(value)))
      : wrap(op('masked_fill', 'Tensor').call(this.native, mask.native, value.native));
  }

  // ---- reductions -----------------------------------------------------------------------

  /** The sum over `dim` (all elements when omitted). */
  sum(dim?: Dims, keepdim = false): Tensor {
    return dim === undefined ? wrap(op('sum').call(this.native)) : wrap(op('sum', 'dim_IntList').call(this.native, dim, keepdim));
  }

  /** The mean over `dim` (all elements when omitted). */
  mean(dim?: Dims, keepdim = false): Tensor {
    return dim === undefined ? wrap(op('mean').call(this.native)) : wrap(op('mean', 'dim').call(this.native, dim, keepdim));
  }

  /** The product over `dim` (all elements when omitted). */
  prod(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? wrap(op('prod').call(this.native)) : wrap(op('prod', 'dim_int').call(this.native, dim, keepdim));
  }

  /** Standard deviation, unbiased (n-1) by default as in PyTorch. */
  std(dim?: Dims, { unbiased = true, keepdim = false } = {}): Tensor {
    return wrap(op('std', 'dim').call(this.native, dim ?? null, unbiased, keepdim));
  }

  /** Variance, unbiased (n-1) by default as in PyTorch. */
  var(dim?: Dims, { unbiased = true, keepdim = false } = {}): Tensor {
    return wrap(op('var', 'dim').call(this.native, dim ?? null, unbiased, keepdim));
  }

  /** Max over all elements. */
  max(): Tensor {
    return wrap(op('max').call(this.native));
  }

  /** Min over all elements. */
  min(): Tensor {
    return wrap(op('min').call(this.native));
  }

  /** Max along a dimension: values and indices. */
  maxDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = wrapMany(op('max', 'dim').call(this.native, dim, keepdim));
    return { values: values!, indices: indices! };
  }

  /** Min along a dimension: values and indices. */
  minDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = wrapMany(op('min', 'dim').call(this.native, dim, keepdim));
    return { values: values!, indices: indices! };
  }

  /** The maximum over `dim` (all elements when empty), without indices. */
  amax(dim: Dims = [], keepdim = false): Tensor {
    return wrap(op('amax').call(this.native, dim, keepdim));
  }

  /** The minimum over `dim` (all elements when empty), without indices. */
  amin(dim: Dims = [], keepdim = false): Tensor {
    return wrap(op('amin').call(this.native, dim, keepdim));
  }

  /** The index of the maximum along `dim` (of the flattened tensor when omitted), int64. */
  argmax(dim?: number, keepdim = false): Tensor {
    return wrap(op('argmax').call(this.native, dim ?? null, keepdim));
  }

  /** The index of the minimum along `dim` (of the flattened tensor when omitted), int64. */
  argmin(dim?: number, keepdim = false): Tensor {
    return wrap(op('argmin').call(this.native, dim ?? null, keepdim));
  }

  /** Sub-tensors along `dim` whose p-norm exceeds maxnorm are scaled down to maxnorm. */
  renorm(p: number, dim: number, maxnorm: number): Tensor {
    return wrap(op('renorm').call(this.native, f64(p), dim, f64(maxnorm)));
  }

  /** Vector p-norm over dims (all elements when dim is omitted). */
  norm(p = 2, dim?: Dims, keepdim = false): Tensor {
    return wrap(op('linalg_vector_norm').call(this.native, f64(p), dim ?? null, keepdim));
  }

  /** log(sum(exp(this))) over `dim`, computed stably. */
  logsumexp(dim: Dims, keepdim = false): Tensor {
    return wrap(op('logsumexp').call(this.native, dim, keepdim));
  }

  /** The running sum along `dim`. */
  cumsum(dim: number): Tensor {
    return wrap(op('cumsum').call(this.native, dim));
  }

  /** Whether any element is non-zero: a one-element bool tensor. */
  any(): Tensor {
    return wrap(op('any').call(this.native));
  }

  /** Whether every element is non-zero: a one-element bool tensor. */
  all(): Tensor {
    return wrap(op('all').call(this.native));
  }

  // ---- linear algebra -------------------------------------------------------------------

  /** The matrix product (batched and broadcast as torch.matmul). */
  matmul(other: Tensor): Tensor {
    return wrap(op('matmul').call(this.native, other.native));
  }

  /** Transpose of a 2-d tensor. */
  t(): Tensor {
    return wrap(op('t').call(this.native));
  }

  // ---- shape ----------------------------------------------------------------------------

  /** The same elements in a new shape (a view when possible, else a copy; -1 infers one size). */
  reshape(shape: number[]): Tensor {
    return wrap(op('reshape').call(this.native, shape));
  }

  /** A view with a new shape over the same storage (the strides must allow it). */
  view(shape: number[]): Tensor {
    return wrap(op('view').call(this.native, shape));
  }

  /** Dimensions startDim..endDim merged into one. */
  flatten(startDim = 0, endDim = -1): Tensor {
    return wrap(op('flatten', 'using_ints').call(this.native, startDim, endDim));
  }

  /** A view with the dimensions reordered. */
  permute(dims: number[]): Tensor {
    return wrap(op('permute').call(this.native, dims));
  }

  /** A view with two dimensions swapped. */
  transpose(dim0: number, dim1: number): Tensor {
    return wrap(op('transpose', 'int').call(this.native, dim0, dim1));
  }

  /** A view with a dimension of size 1 inserted at `dim`. */
  unsqueeze(dim: number): Tensor {
    return wrap(op('unsqueeze').call(this.native, dim));
  }

  /** A view without the dimension `dim` of size 1 (every size-1 dimension when omitted). */
  squeeze(dim?: number): Tensor {
    return dim === undefined ? wrap(op('squeeze').call(this.native)) : wrap(op('squeeze', 'dim').call(this.native, dim));
  }

  /** A broadcast view to `shape` (-1 keeps a size), without copying. */
  expand(shape: number[]): Tensor {
    return wrap(op('expand').call(this.native, shape));
  }

  /** A broadcast view to other's shape. */
  expandAs(other: Tensor): Tensor {
    return this.expand(other.shape);
  }

  /** The tensor tiled `repeats[d]` times along each dimension d (a copy). */
  repeat(repeats: number[]): Tensor {
    return wrap(op('repeat').call(this.native, repeats));
  }

  /** Each element repeated `repeats` times along `dim` (a copy). */
  repeatInterleave(repeats: number, dim: number): Tensor {
    return wrap(op('repeat_interleave', 'self_int').call(this.native, repeats, dim));
  }

  /** Elements [start, end) with step along dim (negative indices count from the end). */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return wrap(op('slice', 'Tensor').call(this.native, dim, start ?? null, end ?? null, step));
  }

  /** A view of `length` elements from `start` along `dim`. */
  narrow(dim: number, start: number, length: number): Tensor {
    return wrap(op('narrow').call(this.native, dim, start, length));
  }

  /** A view of the slice at `index` along `dim`, without that dimension. */
  select(dim: number, index: number): Tensor {
    return wrap(op('select', 'int').call(this.native, dim, index));
  }

  /** Reverses the order of elements along the given dims. */
  flip(dims: number[]): Tensor {
    return wrap(op('flip').call(this.native, dims));
  }

  /** Views of (up to) `chunks` equal parts along `dim`. */
  chunk(chunks: number, dim = 0): Tensor[] {
    return wrapMany(op('chunk').call(this.native, chunks, dim));
  }

  // ---- indexing -------------------------------------------------------------------------

  /** The slices at `index` (int64, 1-D) along `dim`. */
  indexSelect(dim: number, index: Tensor): Tensor {
    return wrap(op('index_select').call(this.native, dim, index.native));
  }

  /** Copies `source`'s slices into this tensor at positions `index` along `dim`, in place. */
  indexCopy_(dim: number, index: Tensor, source: Tensor): this {
    return this.#inplace('index_copy_', '', dim, index.native, source.native);
  }

  /** Indices of the non-zero elements, [count, ndim] int64. */
  nonzero(): Tensor {
    return wrap(op('nonzero').call(this.native));
  }

  /** Values picked along `dim` at `index` (int64, the output's shape). */
  gather(dim: number, index: Tensor): Tensor {
    return wrap(op('gather').call(this.native, dim, index.native));
  }

  /** A copy with `src` written along `dim` at `index`. */
  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return typeof src === 'number'
      ? wrap(op('scatter', 'value').call(this.native, dim, index.native, f64(src)))
      : wrap(op('scatter', 'src').call(this.native, dim, index.native, src.native));
  }

  /** Advanced indexing, like x[i0, i1, ...] with index tensors (null keeps a dimension whole). */
  index(indices: (Tensor | null)[]): Tensor {
    return wrap(
      op('index', 'Tensor').call(
        this.native,
        indices.map((i) => i?.native ?? null),
      ),
    );
  }

  // ---- softmax and selection ------------------------------------------------------------

  /** Softmax along `dim`. */
  softmax(dim: number): Tensor {
    return wrap(op('softmax', 'int').call(this.native, dim));
  }

  /** log(softmax) along `dim`, computed stably. */
  logSoftmax(dim: number): Tensor {
    return wrap(op('log_softmax', 'int').call(this.native, dim));
  }

  /** The `k` largest (or smallest) elements along `dim` and their indices. */
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [values, indices] = wrapMany(op('topk').call(this.native, k, dim, largest, sorted));
    return { values: values!, indices: indices! };
  }

  /** Stable sort: ties keep their original order. */
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = wrapMany(op('sort', 'stable').call(this.native, true, dim, descending));
    return { values: values!, indices: indices! };
  }

  /** Indices that sort along dim (stable). */
  argsort(dim = -1, descending = false): Tensor {
    const { values, indices } = this.sort(dim, descending);
    values.dispose();
    return indices;
  }

  // ---- in-place updates (return this) -----------------------------------------------------

  #inplace(name: string, overload: string, ...args: unknown[]): this {
    op(name, overload).run(this.native, ...args);
    return this;
  }

  /** In place: this += alpha * other. */
  add_(other: TensorOrScalar, alpha?: number): this {
    return typeof other === 'number' ? this.#inplace('add_', 'Scalar', other, alpha) : this.#inplace('add_', 'Tensor', other.native, alpha);
  }

  /** In place: this -= alpha * other. */
  sub_(other: TensorOrScalar, alpha?: number): this {
    return typeof other === 'number' ? this.#inplace('sub_', 'Scalar', other, alpha) : this.#inplace('sub_', 'Tensor', other.native, alpha);
  }

  /** In place: this *= other. */
  mul_(other: TensorOrScalar): this {
    return typeof other === 'number' ? this.#inplace('mul_', 'Scalar', f64(other)) : this.#inplace('mul_', 'Tensor', other.native);
  }

  /** In place: this /= other. */
  div_(other: TensorOrScalar): this {
    return typeof other === 'number' ? this.#inplace('div_', 'Scalar', f64(other)) : this.#inplace('div_', 'Tensor', other.native);
  }

  /** In place: clamps to [min, max] (null leaves a side open). */
  clamp_(min: number | null, max: number | null = null): this {
    return this.#inplace('clamp_', '', min === null ? null : f64(min), max === null ? null : f64(max));
  }

  /** In place: copies src's elements (broadcast, converted) into this tensor. */
  copy_(src: Tensor): this {
    return this.#inplace('copy_', '', src.native);
  }

  /** In place: sets every element to value. */
  fill_(value: number): this {
    return this.#inplace('fill_', 'Scalar', f64(value));
  }

  /** In place: sets every element to 0. */
  zero_(): this {
    return this.#inplace('zero_', '');
  }

  /** In place: max(this, 0). */
  relu_(): this {
    return this.#inplace('relu_', '');
  }

  /** In place: fills with uniform draws from [from, to), from `generator` or the global one. */
  uniform_(from = 0, to = 1, generator?: Generator): this {
    return this.#inplace('uniform_', '', from, to, generator?.native ?? null);
  }

  /** In place: fills with normal draws N(mean, std^2), from `generator` or the global one. */
  normal_(mean = 0, std = 1, generator?: Generator): this {
    return this.#inplace('normal_', '', mean, std, generator?.native ?? null);
  }

  /** In place: elements where mask is true are set to value. */
  maskedFill_(mask: Tensor, value: number): this {
    return this.#inplace('masked_fill_', 'Scalar', mask.native, f64(value));
  }

  /** In place: this[indices] = values (accumulated with += when `accumulate`). */
  indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate = false): this {
    return this.#inplace(
      'index_put_',
      '',
      indices.map((i) => i?.native ?? null),
      values.native,
      accumulate,
    );
  }

  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype})`;
  }
}

// ---- free functions over several tensors ------------------------------------------------

/** Concatenates tensors of equal shape but along `dim`. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  return wrap(
    op('cat').call(
      tensors.map((t) => t.native),
      dim,
    ),
  );
}

/** Stacks tensors of one shape along a new dimension `dim`. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return wrap(
    op('stack').call(
      tensors.map((t) => t.native),
      dim,
    ),
  );
}

/** condition ? a : b, elementwise (numbers are broadcast). */
export function where(condition: Tensor, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  if (typeof a !== 'number' && typeof b !== 'number') return wrap(op('where', 'self').call(condition.native, a.native, b.native));
  if (typeof a === 'number' && typeof b !== 'number') return wrap(op('where', 'ScalarSelf').call(condition.native, f64(a), b.native));
  if (typeof a !== 'number' && typeof b === 'number') return wrap(op('where', 'ScalarOther').call(condition.native, a.native, f64(b)));
  return wrap(op('where', 'Scalar').call(condition.native, f64(a as number), f64(b as number)));
}

function checkGuard(t: Tensor): void {
  const d = T.device(t.native);
  if (d !== canonicalDevice(deviceState.guard!)) {
    const where = new Error().stack?.split('\n').slice(3, 9).join('\n') ?? '';
    throw new Error(
      `device guard: a tensor of shape [${T.shape(t.native).join(', ')}] was created on ${d}, expected ${deviceState.guard}\n${where}`,
    );
  }
}
