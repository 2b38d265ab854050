// Creating tensors: from JS data, constants, ranges and random numbers.
import { native } from '../native.js';
import { dtypeOfArray, type AnyTypedArray, type DType } from './dtype.js';
import { f64, op } from './op.js';
import type { Generator } from './random.js';
import { Tensor, wrap } from './tensor.js';

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
export function tensor(data: AnyTypedArray | number[] | number[][] | number[][][] | number[][][][] | number,
  opts: { shape?: number[]; dtype?: DType } = {}): Tensor {
  if (typeof data === 'number') data = [data];
  if (ArrayBuffer.isView(data)) {
    const shape = checkShape(opts.shape ?? [data.length]);
    const src = dtypeOfArray(data);
    if (opts.dtype && opts.dtype !== src && !(opts.dtype === 'bool' && src === 'uint8')) {
      const t = new Tensor(native.fromArray(data, shape, src));
      try {
        return t.to(opts.dtype);
      } finally {
        t.dispose();
      }
    }
    return new Tensor(native.fromArray(data, shape, opts.dtype ?? src));
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
  const t = new Tensor(native.fromArray(arr, checkShape(shape), base));
  if (base === dtype) return t;
  try {
    return t.to(dtype);
  } finally {
    t.dispose();
  }
}

export function zeros(shape: number[], dtype: DType = 'float32'): Tensor {
  return wrap(op('zeros').call(checkShape(shape), dtype));
}

export function ones(shape: number[], dtype: DType = 'float32'): Tensor {
  return wrap(op('ones').call(checkShape(shape), dtype));
}

export function full(shape: number[], value: number, dtype: DType = 'float32'): Tensor {
  return wrap(op('full').call(checkShape(shape), f64(value), dtype));
}

export function empty(shape: number[], dtype: DType = 'float32'): Tensor {
  return wrap(op('empty', 'memory_format').call(checkShape(shape), dtype));
}

export function zerosLike(t: Tensor, dtype?: DType): Tensor {
  return wrap(op('zeros_like').call(t.native, dtype ?? null));
}

export function onesLike(t: Tensor, dtype?: DType): Tensor {
  return wrap(op('ones_like').call(t.native, dtype ?? null));
}

export function fullLike(t: Tensor, value: number, dtype?: DType): Tensor {
  return wrap(op('full_like').call(t.native, f64(value), dtype ?? null));
}

/** [start, end) with step; int64 for integer arguments unless a dtype is given, as PyTorch. */
export function arange(start: number, end?: number, step = 1, dtype?: DType): Tensor {
  if (end === undefined) [start, end] = [0, start];
  const integral = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  return wrap(op('arange', 'start_step').call(start, end, step, dtype ?? (integral ? 'int64' : 'float32')));
}

export function linspace(start: number, end: number, steps: number, dtype: DType = 'float32'): Tensor {
  return wrap(op('linspace').call(f64(start), f64(end), steps, dtype));
}

export function eye(n: number, dtype: DType = 'float32'): Tensor {
  return wrap(op('eye').call(n, dtype));
}

export interface RandomOptions {
  generator?: Generator;
  dtype?: DType;
}

/** Standard normal samples. */
export function randn(shape: number[], opts: RandomOptions = {}): Tensor {
  return wrap(op('randn', 'generator').call(checkShape(shape), opts.generator?.native ?? null, opts.dtype ?? 'float32'));
}

/** Uniform samples in [0, 1). */
export function rand(shape: number[], opts: RandomOptions = {}): Tensor {
  return wrap(op('rand', 'generator').call(checkShape(shape), opts.generator?.native ?? null, opts.dtype ?? 'float32'));
}

/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: number[], opts: RandomOptions = {}): Tensor {
  return wrap(op('randint', 'low_generator').call(low, high, checkShape(shape), opts.generator?.native ?? null, opts.dtype ?? 'int64'));
}

/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  return wrap(op('randperm', 'generator').call(n, opts.generator?.native ?? null, opts.dtype ?? 'int64'));
}
