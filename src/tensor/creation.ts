// Creating tensors: from JS data, constants, ranges and random numbers.
import { native } from '../native.js';
import { dtypeOfArray, type AnyTypedArray, type DType } from './dtype.js';
import { f64, op } from './op.js';
import type { Generator } from './random.js';
import { Tensor, wrap } from './tensor.js';
import { state as deviceState, type Device } from './deviceState.js';

/** Where a new tensor goes: an explicit device, else the default device (initially 'cpu'). */
export interface CreationOptions {
  dtype?: DType;
  device?: Device;
}

// Older call sites pass a bare dtype as the second argument.
function creation(o: DType | CreationOptions | undefined, dtype: DType): { dtype: DType; device: Device } {
  if (typeof o === 'string') return { dtype: o, device: deviceState.defaultDevice };
  return { dtype: o?.dtype ?? dtype, device: o?.device ?? deviceState.defaultDevice };
}

function checkShape(shape: number[]): number[] {
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new RangeError(`invalid shape [${shape.join(', ')}]: sizes must be non-negative integers`);
  }
  return shape;
}

function inferShape(data: unknown): number[] {
  const shape: number[] = [];
  let cur = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

/**
 * A tensor from a typed array (its dtype follows the array unless given) or nested number
 * arrays (float32 unless given). The data is copied.
 */
export function tensor(
  data: AnyTypedArray | number[] | number[][] | number[][][] | number[][][][] | number,
  opts: { shape?: number[]; dtype?: DType; device?: Device } = {},
): Tensor {
  if (typeof data === 'number') data = [data];
  const device = opts.device ?? deviceState.defaultDevice;
  if (ArrayBuffer.isView(data)) {
    const shape = checkShape(opts.shape ?? [data.length]);
    const src = dtypeOfArray(data);
    if (opts.dtype && opts.dtype !== src && !(opts.dtype === 'bool' && src === 'uint8')) {
      const t = new Tensor(native.fromArray(data, shape, src, device));
      try {
        return t.to(opts.dtype);
      } finally {
        t.dispose();
      }
    }
    return new Tensor(native.fromArray(data, shape, opts.dtype ?? src, device));
  }
  const shape = opts.shape ?? inferShape(data);
  const flat = (data as unknown[]).flat(Infinity) as number[];
  const dtype = opts.dtype ?? 'float32';
  let arr: AnyTypedArray;
  if (dtype === 'int64') arr = BigInt64Array.from(flat, (x) => BigInt(x));
  else if (dtype === 'float64') arr = Float64Array.from(flat);
  else if (dtype === 'int32') arr = Int32Array.from(flat);
  else if (dtype === 'uint8' || dtype === 'bool') arr = Uint8Array.from(flat, (x) => (dtype === 'bool' ? (x ? 1 : 0) : x));
  else arr = Float32Array.from(flat);
  const base = dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype === 'int16' || dtype === 'int8' ? 'int32' : dtype;
  const t = new Tensor(native.fromArray(arr, checkShape(shape), base, device));
  if (base === dtype) return t;
  try {
    return t.to(dtype);
  } finally {
    t.dispose();
  }
}

/** A tensor of `shape` filled with 0 (float32 unless a dtype is given). */
export function zeros(shape: number[], opts?: DType | CreationOptions): Tensor {
  const o = creation(opts, 'float32');
  return wrap(op('zeros').call(checkShape(shape), o.dtype, null, o.device));
}

/** A tensor of `shape` filled with 1 (float32 unless a dtype is given). */
export function ones(shape: number[], opts?: DType | CreationOptions): Tensor {
  const o = creation(opts, 'float32');
  return wrap(op('ones').call(checkShape(shape), o.dtype, null, o.device));
}

/** A tensor of `shape` filled with `value` (float32 unless a dtype is given). */
export function full(shape: number[], value: number, opts?: DType | CreationOptions): Tensor {
  const o = creation(opts, 'float32');
  return wrap(op('full').call(checkShape(shape), f64(value), o.dtype, null, o.device));
}

/** A tensor of `shape` with uninitialised elements (float32 unless a dtype is given). */
export function empty(shape: number[], opts?: DType | CreationOptions): Tensor {
  const o = creation(opts, 'float32');
  return wrap(op('empty', 'memory_format').call(checkShape(shape), o.dtype, null, o.device));
}

// The *Like functions follow their model's device and dtype, as PyTorch's.
/** Zeros of t's shape, device and dtype (or `dtype`). */
export function zerosLike(t: Tensor, dtype?: DType): Tensor {
  return wrap(op('zeros_like').call(t.native, dtype ?? null));
}

/** Ones of t's shape, device and dtype (or `dtype`). */
export function onesLike(t: Tensor, dtype?: DType): Tensor {
  return wrap(op('ones_like').call(t.native, dtype ?? null));
}

/** `value` in t's shape, device and dtype (or `dtype`). */
export function fullLike(t: Tensor, value: number, dtype?: DType): Tensor {
  return wrap(op('full_like').call(t.native, f64(value), dtype ?? null));
}

/** [start, end) with step; int64 for integer arguments unless a dtype is given, as PyTorch. */
export function arange(start: number, end?: number, step = 1, opts?: DType | CreationOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  const integral = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const o = creation(opts, integral ? 'int64' : 'float32');
  return wrap(op('arange', 'start_step').call(start, end, step, o.dtype, null, o.device));
}

/** `steps` evenly spaced values from start to end inclusive (float32 unless a dtype is given). */
export function linspace(start: number, end: number, steps: number, opts?: DType | CreationOptions): Tensor {
  const o = creation(opts, 'float32');
  return wrap(op('linspace').call(f64(start), f64(end), steps, o.dtype, null, o.device));
}

/** The n x n identity matrix (float32 unless a dtype is given). */
export function eye(n: number, opts?: DType | CreationOptions): Tensor {
  const o = creation(opts, 'float32');
  return wrap(op('eye').call(n, o.dtype, null, o.device));
}

/** Where random draws come from (a generator, else libtorch's default one) and what they make. */
export interface RandomOptions {
  /** Its device is the tensor's device unless `device` says otherwise (then they must agree). */
  generator?: Generator;
  dtype?: DType;
  device?: Device;
}

function randomDevice(opts: RandomOptions): Device {
  return opts.device ?? opts.generator?.device ?? deviceState.defaultDevice;
}

/** Standard normal samples. */
export function randn(shape: number[], opts: RandomOptions = {}): Tensor {
  return wrap(
    op('randn', 'generator').call(checkShape(shape), opts.generator?.native ?? null, opts.dtype ?? 'float32', null, randomDevice(opts)),
  );
}

/** Uniform samples in [0, 1). */
export function rand(shape: number[], opts: RandomOptions = {}): Tensor {
  return wrap(
    op('rand', 'generator').call(checkShape(shape), opts.generator?.native ?? null, opts.dtype ?? 'float32', null, randomDevice(opts)),
  );
}

/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: number[], opts: RandomOptions = {}): Tensor {
  return wrap(
    op('randint', 'low_generator').call(
      low,
      high,
      checkShape(shape),
      opts.generator?.native ?? null,
      opts.dtype ?? 'int64',
      null,
      randomDevice(opts),
    ),
  );
}

/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  return wrap(op('randperm', 'generator').call(n, opts.generator?.native ?? null, opts.dtype ?? 'int64', null, randomDevice(opts)));
}
