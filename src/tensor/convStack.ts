// The addon's convolution stack (native/convStack.cc): convolutions, each with its ReLU or not,
// and max poolings run in one call on oneDNN's channel-blocked layout. nn/convStack.ts decides
// which layers of a model go through it.
import { native } from '../native.js';
import { wrap, type Tensor } from './tensor.js';

/** One layer of a stack: a convolution (square kernel, stride 1, symmetric padding) or a max pooling of side and stride `kernel`. */
export type ConvStackLayer =
  | { kind: 'conv'; kernel: number; padding: number; relu: boolean; weight: Tensor; bias: Tensor | null }
  | { kind: 'pool'; kernel: number };

const toNative = (layers: readonly ConvStackLayer[]) =>
  layers.map((l) => (l.kind === 'conv' ? { ...l, weight: l.weight.native, bias: l.bias?.native ?? null } : l));

const available = native.convStackAvailable();

/** Whether the addon was built with oneDNN's headers, so that stacks run natively. */
export function convStackAvailable(): boolean {
  return available;
}

/** Why the addon cannot run x through these layers now (a sentence), or null. */
export function convStackUnsupported(x: Tensor, layers: readonly ConvStackLayer[]): string | null {
  return native.convStackUnsupported(x.native, toNative(layers));
}

/** The layers' output for x [N, C, H, W], recording x's gradient when it wants one; throws where {@link convStackUnsupported} says why. */
export function convStack(x: Tensor, layers: readonly ConvStackLayer[]): Tensor {
  return wrap(native.convStack(x.native, toNative(layers)));
}

/**
 * How many rows the stack's backward has run in this process. A row whose output gradient is all
 * zero gets a zero input gradient without running (tests check that it was left out).
 */
export function convStackBackwardRows(): number {
  return native.convStackBackwardRows();
}

/**
 * The layers' output for x [N, C, H, W] or channel-blocked [N, C / B, H, W, B] (oneDNN's aBcd{B}b
 * layout, B 8 or 16), recording no gradient: blocked by `block` (0: plain [N, C', H', W']; -1:
 * blocked as oneDNN's last layer leaves it, when it is one of those, else plain). The values are
 * {@link convStack}'s, whatever the layouts. Throws where the stack cannot run x.
 */
export function convStackBlocked(x: Tensor, layers: readonly ConvStackLayer[], block: number): Tensor {
  return wrap(native.convStackBlocked(x.native, toNative(layers), block));
}

/** [N, C, H, W] from channel-blocked [N, C / B, H, W, B], contiguous; a 4-d tensor is returned as it is. */
export function unblocked(t: Tensor): Tensor {
  if (t.ndim !== 5) return t;
  const [n, cb, h, w, b] = t.shape as [number, number, number, number, number];
  return t
    .permute([0, 1, 4, 2, 3])
    .reshape([n, cb * b, h, w])
    .contiguous();
}
