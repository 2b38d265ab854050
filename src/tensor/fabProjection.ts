// FAB's Linf projection by the addon (native/fabProjection.cc): one pass per row instead of some
// thirty tensor ops, with the same arithmetic as src/attacks/fabProjections.ts's op-by-op version.
import { native } from '../native.js';
import { wrap, type Tensor } from './tensor.js';

/** d [n, D] for CPU float32 t and w [n, D] and b [n]: projectionLinf's answer. */
export function fabProjectionLinfNative(t: Tensor, w: Tensor, b: Tensor): Tensor {
  return wrap(native.fabProjectionLinf(t.native, w.native, b.native));
}
