// The typed tensor facade over libtorch's at::Tensor. Method names follow PyTorch's
// (camelCase); every method is one ATen operator called through the registry.
import { native as addon, type NativeTensor, type NativeValue } from '../native.js';
import type { AnyTypedArray, DType, TypedArrayFor } from './dtype.js';
import { f64, op } from './op.js';
import { track, untrack, type Scoped } from './scope.js';
import type { Generator } from './random.js';
import { canonicalDevice, state as deviceState, type Device } from './deviceState.js';
import { DTYPES } from './dtype.js';

export type Scalar = number;
export type TensorOrScalar = Tensor | Scalar;
export type Dims = number | number[];

/** Wraps a native result: tensors become Tensors, arrays are mapped element-wise. */
/** How a 4-D tensor's elements lie in memory: NCHW ('contiguous') or NHWC ('channels_last'). */
export type MemoryFormat = 'contiguous' | 'channels_last';

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

  numel(): number {
    return T.numel(this.native);
  }

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

  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    T.backward(this.native, gradient?.native ?? null, opts.retainGraph, opts.createGraph ?? false);
  }

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
    const o = typeof target === 'string'
      ? ((DTYPES as readonly string[]).includes(target) ? { dtype: target as DType } : { device: target })
      : target;
    if (o.device === undefined) return wrap(op('to', 'dtype').call(this.native, o.dtype!));
    return wrap(op('to', 'dtype_layout').call(this.native, o.dtype ?? null, null, o.device, null, o.nonBlocking ?? false));
  }

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

  float(): Tensor {
    return this.to('float32');
  }

  long(): Tensor {
    return this.to('int64');
  }

  bool(): Tensor {
    return this.to('bool');
  }

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

  add(other: TensorOrScalar, alpha?: number): Tensor {
    return typeof other === 'number'
      ? wrap(op('add', 'Scalar').call(this.native, other, alpha))
      : wrap(op('add', 'Tensor').call(this.native, other.native, alpha));
  }

  sub(other: TensorOrScalar, alpha?: number): Tensor {
    return typeof other === 'number'
      ? wrap(op('sub', 'Scalar').call(this.native, other, alpha))
      : wrap(op('sub', 'Tensor').call(this.native, other.native, alpha));
  }

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

  neg(): Tensor {
    return wrap(op('neg').call(this.native));
  }

  abs(): Tensor {
    return wrap(op('abs').call(this.native));
  }

  pow(exponent: TensorOrScalar): Tensor {
    return typeof exponent === 'number'
      ? wrap(op('pow', 'Tensor_Scalar').call(this.native, exponent))
      : wrap(op('pow', 'Tensor_Tensor').call(this.native, exponent.native));
  }

  square(): Tensor {
    return wrap(op('square').call(this.native));
  }

  sqrt(): Tensor {
    return wrap(op('sqrt').call(this.native));
  }

  exp(): Tensor {
    return wrap(op('exp').call(this.native));
  }

  log(): Tensor {
    return wrap(op('log').call(this.native));
  }

  reciprocal(): Tensor {
    return wrap(op('reciprocal').call(this.native));
  }

  sign(): Tensor {
    return wrap(op('sign').call(this.native));
  }

  floor(): Tensor {
    return wrap(op('floor').call(this.native));
  }

  relu(): Tensor {
    return wrap(op('relu').call(this.native));
  }

  sigmoid(): Tensor {
    return wrap(op('sigmoid').call(this.native));
  }

  tanh(): Tensor {
    return wrap(op('tanh').call(this.native));
  }

  maximum(other: Tensor): Tensor {
    return wrap(op('maximum').call(this.native, other.native));
  }

  minimum(other: Tensor): Tensor {
    return wrap(op('minimum').call(this.native, other.native));
  }

  /** Clamps to [min, max]; either bound may be omitted (null) and may be a tensor. */
  clamp(min: TensorOrScalar | null, max: TensorOrScalar | null = null): Tensor {
    if ((min === null || typeof min === 'number') && (max === null || typeof max === 'number')) {
      return wrap(op('clamp').call(this.native, min === null ? null : f64(min), max === null ? null : f64(max)));
    }
    const asT = (b: TensorOrScalar | null): NativeTensor | null =>
      b === null ? null : typeof b === 'number' ? null : b.native;
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

  eq(other: TensorOrScalar): Tensor { return this.#cmp('eq', other); }
  ne(other: TensorOrScalar): Tensor { return this.#cmp('ne', other); }
  lt(other: TensorOrScalar): Tensor { return this.#cmp('lt', other); }
  le(other: TensorOrScalar): Tensor { return this.#cmp('le', other); }
  gt(other: TensorOrScalar): Tensor { return this.#cmp('gt', other); }
  ge(other: TensorOrScalar): Tensor { return this.#cmp('ge', other); }

  logicalAnd(other: Tensor): Tensor {
    return wrap(op('logical_and').call(this.native, other.native));
  }

  logicalOr(other: Tensor): Tensor {
    return wrap(op('logical_or').call(this.native, other.native));
  }

  logicalNot(): Tensor {
    return wrap(op('logical_not').call(this.native));
  }

  isfinite(): Tensor {
    return wrap(op('isfinite').call(this.native));
  }

  isinf(): Tensor {
    return wrap(op('isinf').call(this.native));
  }

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

  sum(dim?: Dims, keepdim = false): Tensor {
    return dim === undefined
      ? wrap(op('sum').call(this.native))
      : wrap(op('sum', 'dim_IntList').call(this.native, dim, keepdim));
  }

  mean(dim?: Dims, keepdim = false): Tensor {
    return dim === undefined
      ? wrap(op('mean').call(this.native))
      : wrap(op('mean', 'dim').call(this.native, dim, keepdim));
  }

  prod(dim?: number, keepdim = false): Tensor {
    return dim === undefined
      ? wrap(op('prod').call(this.native))
      : wrap(op('prod', 'dim_int').call(this.native, dim, keepdim));
  }

  /** Standard deviation, unbiased (n-1) by default as in PyTorch. */
  std(dim?: Dims, { unbiased = true, keepdim = false } = {}): Tensor {
    return wrap(op('std', 'dim').call(this.native, dim ?? null, unbiased, keepdim));
  }

  var(dim?: Dims, { unbiased = true, keepdim = false } = {}): Tensor {
    return wrap(op('var', 'dim').call(this.native, dim ?? null, unbiased, keepdim));
  }

  /** Max over all elements. */
  max(): Tensor {
    return wrap(op('max').call(this.native));
  }

  min(): Tensor {
    return wrap(op('min').call(this.native));
  }

  /** Max along a dimension: values and indices. */
  maxDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = wrapMany(op('max', 'dim').call(this.native, dim, keepdim));
    return { values: values!, indices: indices! };
  }

  minDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = wrapMany(op('min', 'dim').call(this.native, dim, keepdim));
    return { values: values!, indices: indices! };
  }

  amax(dim: Dims = [], keepdim = false): Tensor {
    return wrap(op('amax').call(this.native, dim, keepdim));
  }

  amin(dim: Dims = [], keepdim = false): Tensor {
    return wrap(op('amin').call(this.native, dim, keepdim));
  }

  argmax(dim?: number, keepdim = false): Tensor {
    return wrap(op('argmax').call(this.native, dim ?? null, keepdim));
  }

  argmin(dim?: number, keepdim = false): Tensor {
    return wrap(op('argmin').call(this.native, dim ?? null, keepdim));
  }

  /** Vector p-norm over dims (all elements when dim is omitted). */
  /** Sub-tensors along `dim` whose p-norm exceeds maxnorm are scaled down to maxnorm. */
  renorm(p: number, dim: number, maxnorm: number): Tensor {
    return wrap(op('renorm').call(this.native, f64(p), dim, f64(maxnorm)));
  }

  norm(p = 2, dim?: Dims, keepdim = false): Tensor {
    return wrap(op('linalg_vector_norm').call(this.native, f64(p), dim ?? null, keepdim));
  }

  logsumexp(dim: Dims, keepdim = false): Tensor {
    return wrap(op('logsumexp').call(this.native, dim, keepdim));
  }

  cumsum(dim: number): Tensor {
    return wrap(op('cumsum').call(this.native, dim));
  }

  any(): Tensor {
    return wrap(op('any').call(this.native));
  }

  all(): Tensor {
    return wrap(op('all').call(this.native));
  }

  // ---- linear algebra -------------------------------------------------------------------

  matmul(other: Tensor): Tensor {
    return wrap(op('matmul').call(this.native, other.native));
  }

  /** Transpose of a 2-d tensor. */
  t(): Tensor {
    return wrap(op('t').call(this.native));
  }

  // ---- shape ----------------------------------------------------------------------------

  reshape(shape: number[]): Tensor {
    return wrap(op('reshape').call(this.native, shape));
  }

  view(shape: number[]): Tensor {
    return wrap(op('view').call(this.native, shape));
  }

  flatten(startDim = 0, endDim = -1): Tensor {
    return wrap(op('flatten', 'using_ints').call(this.native, startDim, endDim));
  }

  permute(dims: number[]): Tensor {
    return wrap(op('permute').call(this.native, dims));
  }

  transpose(dim0: number, dim1: number): Tensor {
    return wrap(op('transpose', 'int').call(this.native, dim0, dim1));
  }

  unsqueeze(dim: number): Tensor {
    return wrap(op('unsqueeze').call(this.native, dim));
  }

  squeeze(dim?: number): Tensor {
    return dim === undefined
      ? wrap(op('squeeze').call(this.native))
      : wrap(op('squeeze', 'dim').call(this.native, dim));
  }

  expand(shape: number[]): Tensor {
    return wrap(op('expand').call(this.native, shape));
  }

  expandAs(other: Tensor): Tensor {
    return this.expand(other.shape);
  }

  repeat(repeats: number[]): Tensor {
    return wrap(op('repeat').call(this.native, repeats));
  }

  repeatInterleave(repeats: number, dim: number): Tensor {
    return wrap(op('repeat_interleave', 'self_int').call(this.native, repeats, dim));
  }

  /** Elements [start, end) with step along dim (negative indices count from the end). */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return wrap(op('slice', 'Tensor').call(this.native, dim, start ?? null, end ?? null, step));
  }

  narrow(dim: number, start: number, length: number): Tensor {
    return wrap(op('narrow').call(this.native, dim, start, length));
  }

  select(dim: number, index: number): Tensor {
    return wrap(op('select', 'int').call(this.native, dim, index));
  }

  /** Reverses the order of elements along the given dims. */
  flip(dims: number[]): Tensor {
    return wrap(op('flip').call(this.native, dims));
  }

  chunk(chunks: number, dim = 0): Tensor[] {
    return wrapMany(op('chunk').call(this.native, chunks, dim));
  }

  // ---- indexing -------------------------------------------------------------------------

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

  gather(dim: number, index: Tensor): Tensor {
    return wrap(op('gather').call(this.native, dim, index.native));
  }

  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return typeof src === 'number'
      ? wrap(op('scatter', 'value').call(this.native, dim, index.native, f64(src)))
      : wrap(op('scatter', 'src').call(this.native, dim, index.native, src.native));
  }

  /** Advanced indexing, like x[i0, i1, ...] with index tensors (null keeps a dimension whole). */
  index(indices: (Tensor | null)[]): Tensor {
    return wrap(op('index', 'Tensor').call(this.native, indices.map((i) => i?.native ?? null)));
  }

  // ---- softmax and selection ------------------------------------------------------------

  softmax(dim: number): Tensor {
    return wrap(op('softmax', 'int').call(this.native, dim));
  }

  logSoftmax(dim: number): Tensor {
    return wrap(op('log_softmax', 'int').call(this.native, dim));
  }

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

  add_(other: TensorOrScalar, alpha?: number): this {
    return typeof other === 'number'
      ? this.#inplace('add_', 'Scalar', other, alpha)
      : this.#inplace('add_', 'Tensor', other.native, alpha);
  }

  sub_(other: TensorOrScalar, alpha?: number): this {
    return typeof other === 'number'
      ? this.#inplace('sub_', 'Scalar', other, alpha)
      : this.#inplace('sub_', 'Tensor', other.native, alpha);
  }

  mul_(other: TensorOrScalar): this {
    return typeof other === 'number' ? this.#inplace('mul_', 'Scalar', f64(other)) : this.#inplace('mul_', 'Tensor', other.native);
  }

  div_(other: TensorOrScalar): this {
    return typeof other === 'number' ? this.#inplace('div_', 'Scalar', f64(other)) : this.#inplace('div_', 'Tensor', other.native);
  }

  clamp_(min: number | null, max: number | null = null): this {
    return this.#inplace('clamp_', '', min === null ? null : f64(min), max === null ? null : f64(max));
  }

  copy_(src: Tensor): this {
    return this.#inplace('copy_', '', src.native);
  }

  fill_(value: number): this {
    return this.#inplace('fill_', 'Scalar', f64(value));
  }

  zero_(): this {
    return this.#inplace('zero_', '');
  }

  relu_(): this {
    return this.#inplace('relu_', '');
  }

  uniform_(from = 0, to = 1, generator?: Generator): this {
    return this.#inplace('uniform_', '', from, to, generator?.native ?? null);
  }

  normal_(mean = 0, std = 1, generator?: Generator): this {
    return this.#inplace('normal_', '', mean, std, generator?.native ?? null);
  }

  maskedFill_(mask: Tensor, value: number): this {
    return this.#inplace('masked_fill_', 'Scalar', mask.native, f64(value));
  }

  indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate = false): this {
    return this.#inplace('index_put_', '', indices.map((i) => i?.native ?? null), values.native, accumulate);
  }

  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype})`;
  }
}

// ---- free functions over several tensors ------------------------------------------------

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return wrap(op('cat').call(tensors.map((t) => t.native), dim));
}

export function stack(tensors: Tensor[], dim = 0): Tensor {
  return wrap(op('stack').call(tensors.map((t) => t.native), dim));
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
    throw new Error(`device guard: a tensor of shape [${T.shape(t.native).join(', ')}] was created on ${d}, expected ${deviceState.guard}\n${where}`);
  }
}
