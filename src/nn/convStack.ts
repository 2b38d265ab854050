// The convolutions, ReLUs and max poolings at the front of a Sequential, run by the addon in one
// call (native/convStack.cc): the activations stay in oneDNN's channel-blocked layout from the
// first layer to the last instead of being reordered to NCHW and back around every convolution,
// and each ReLU runs as its convolution's post-op. The output and the input gradient are the
// layer-by-layer path's bit for bit (test/unit/convStack.test.ts). It runs where the addon has
// oneDNN, on CPU float32 batches of two or more with autocast off, when no weight wants a
// gradient (attacks, evaluation); anything else runs layer by layer.
import { convStack, convStackAvailable, convStackUnsupported, type ConvStackLayer } from '../tensor/convStack.js';
import { isGradEnabled } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';

/** A layer as a convolution stack sees it. */
export type StackPart =
  | { kind: 'conv'; weight: Tensor; bias: Tensor | null; kernel: number; padding: number }
  | { kind: 'pool'; kernel: number }
  | { kind: 'relu' }
  /** Passes its input through (a batch norm folded into the convolution before it). */
  | { kind: 'identity' };

/** A layer that can say how a convolution stack would run it (Conv2d, ReLU, MaxPool2d, BatchNorm2d). */
export interface StackLayer {
  /** The layer as a stack runs it, or null where a stack cannot run it now. */
  stackPart(): StackPart | null;
}

/** A module as a convolution stack runs it, or null (a layer no stack runs). */
export function stackPartOf(m: object): StackPart | null {
  return typeof (m as Partial<StackLayer>).stackPart === 'function' ? (m as StackLayer).stackPart() : null;
}

export { convStackAvailable };

const available = convStackAvailable();
let enabled = true;
let runs = 0;

/** How many forwards the native stack has run in this process (tests check that it ran). */
export function convStackRuns(): number {
  return runs;
}

/** Turns the native stack on or off (benchmarks and tests compare the two paths); returns the previous setting. */
export function setConvStackEnabled(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/**
 * The longest run of `parts` from the first that the stack takes (a ReLU only right after a
 * convolution, or after its folded batch norm), as the addon's layers and how many parts they
 * cover; null when the run has no convolution or covers fewer than `least` parts.
 */
function prefix(parts: readonly (StackPart | null)[], least: number): { layers: ConvStackLayer[]; count: number } | null {
  const layers: ConvStackLayer[] = [];
  let count = 0;
  for (const p of parts) {
    if (!p) break;
    const last = layers[layers.length - 1];
    if (p.kind === 'identity') {
      if (last?.kind !== 'conv' || last.relu) break;
    } else if (p.kind === 'relu') {
      if (last?.kind !== 'conv' || last.relu) break;
      last.relu = true;
    } else if (p.kind === 'pool') {
      layers.push({ kind: 'pool', kernel: p.kernel });
    } else {
      layers.push({
        kind: 'conv',
        kernel: p.kernel,
        padding: p.padding,
        relu: false,
        weight: p.weight,
        bias: p.bias,
      });
    }
    count++;
  }
  return layers.some((l) => l.kind === 'conv') && count >= least ? { layers, count } : null;
}

/**
 * Runs the front of a layer list on x in one native call when it can: the output and how many
 * parts it covered, or null (the caller runs the layers one by one). `least`: the fewest parts
 * worth a call (a Sequential's forward: two; Square's local forward runs one convolution and its
 * ReLU, where libtorch's conv2d and a separate ReLU cost more on its small windows).
 */
export function runConvStack(x: Tensor, parts: () => readonly (StackPart | null)[], least = 2): { out: Tensor; count: number } | null {
  if (!available || !enabled || x.ndim !== 4 || x.shape[0]! < 2 || x.dtype !== 'float32' || x.device !== 'cpu') return null;
  const run = prefix(parts(), least);
  if (!run || convStackUnsupported(x, run.layers) !== null) return null;
  runs++;
  return { out: convStack(x, run.layers), count: run.count };
}

/**
 * All of `parts` as the addon's layers, when a stack takes every one of them and can run them
 * now (the stack on, weights CPU float32 wanting no gradient in this grad mode); else null. The
 * input's own conditions (CPU float32, two rows or more) are the caller's. Square's local forward
 * runs its stages so, on channel-blocked activations (convStackBlocked).
 */
export function stackLayersOf(parts: readonly (StackPart | null)[]): ConvStackLayer[] | null {
  if (!available || !enabled) return null;
  const only = parts.length === 1 ? parts[0] : null;
  // a pooling alone (prefix wants a convolution, as a stack of poolings alone is not worth a call)
  if (only?.kind === 'pool') return [{ kind: 'pool', kernel: only.kernel }];
  const run = prefix(parts, 1);
  if (!run || run.count !== parts.length) return null;
  const fits = (t: Tensor | null) => !t || (t.device === 'cpu' && t.dtype === 'float32' && !(isGradEnabled() && t.requiresGrad));
  return run.layers.every((l) => l.kind === 'pool' || (fits(l.weight) && fits(l.bias))) ? run.layers : null;
}
