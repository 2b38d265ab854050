// Cached handles to ATen operators, looked up once by name in libtorch's registry.
import { native, type NativeOp } from '../native.js';

const cache = new Map<string, NativeOp>();

/** The ATen operator `name.overload` (e.g. op('add', 'Tensor')), looked up once. */
export function op(name: string, overload = ''): NativeOp {
  const key = `${name}.${overload}`;
  let o = cache.get(key);
  if (!o) {
    o = new native.Op(name, overload);
    cache.set(key, o);
  }
  return o;
}

/** A float Scalar argument even when the value is integral (2 -> 2.0), as Python's 2.0. */
export function f64(x: number): { float: number } {
  return { float: x };
}
