// Max pooling whose windows tile the input, by the addon's own forward (native/pool.cc), not
// libtorch's, because libtorch's was a fifth of an attack step on the default model
// (BENCHMARKS.md, "Attack step: max pooling"). Values, indices and the backward are libtorch's;
// inputs other than CPU float32 NCHW go to libtorch's max_pool2d.
import { native } from '../native.js';
import { wrap, type Tensor } from './tensor.js';

/** max_pool2d(x, [kh, kw], [kh, kw]) with no padding or dilation, floor mode. */
export function maxPool2dTiled(x: Tensor, kh: number, kw: number): Tensor {
  return wrap(native.maxPool2dTiled(x.native, kh, kw));
}
