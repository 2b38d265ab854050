// Windows of one size cut out of, and written back into, a batch of images [n, c, h, w], each
// row's window at its own top-left corner (native/window.cc). Corners outside the image are
// refused with a RangeError naming the row. Channel-blocked batches [n, c, h, w, b] (oneDNN's
// aBcd{b}b layout, CPU float32 contiguous) are cut the same way: their windows are [n, c, hh, ww, b].
import { native } from '../native.js';
import { wrap, type Tensor } from './tensor.js';

/** Row r's hh x ww window of x with its corner at (ys[r], xs[r]): [n, c, hh, ww], a copy. */
export function windows(x: Tensor, ys: Int32Array, xs: Int32Array, hh: number, ww: number): Tensor {
  return wrap(native.windows(x.native, ys, xs, hh, ww));
}

/**
 * In place: x's windows (as {@link windows} cuts them, of v's size) set to v [n, c, hh, ww];
 * only the rows where the bool tensor `rows` [n] is true when given. x must be contiguous.
 */
export function putWindows_(x: Tensor, ys: Int32Array, xs: Int32Array, v: Tensor, rows: Tensor | null = null): Tensor {
  native.putWindows_(x.native, ys, xs, v.native, rows?.native ?? null);
  return x;
}
