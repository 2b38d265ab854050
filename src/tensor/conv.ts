// 2-d convolution by the addon (native/conv.cc): libtorch's conv2d, whose input gradient for one
// to three input channels on CPU float32 is libtorch's im2col kernel's instead of oneDNN's.
import { native } from '../native.js';
import { wrap, type Tensor } from './tensor.js';

/** torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups). */
export function conv2dNative(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  stride: number | [number, number],
  padding: number | [number, number],
  dilation: number | [number, number],
  groups: number,
): Tensor {
  return wrap(native.conv2d(x.native, weight.native, bias?.native ?? null, stride, padding, dilation, groups));
}
