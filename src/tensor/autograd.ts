// Autograd entry points beyond Tensor.backward: gradients of chosen inputs, grad mode.
import { native } from '../native.js';
import { Tensor } from './tensor.js';

/**
 * Options of {@link grad}, as torch.autograd.grad's: gradients of the outputs, graph retention, unused inputs.
 */
export interface GradOptions {
  gradOutputs?: Tensor[];
  retainGraph?: boolean;
  createGraph?: boolean;
  allowUnused?: boolean;
}

/** d(sum of outputs)/d(inputs), like torch.autograd.grad; unused inputs give null with allowUnused. */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const res = native.grad(
    outs.map((t) => t.native),
    ins.map((t) => t.native),
    opts.gradOutputs ? opts.gradOutputs.map((t) => t.native) : null,
    opts.retainGraph,
    opts.createGraph ?? false,
    opts.allowUnused ?? false,
  );
  return res.map((g) => (g ? new Tensor(g) : null));
}

/**
 * Runs fn with gradient recording off (torch.no_grad).
 *
 * @example
 * ```ts
 * const predictions = scope(() => noGrad(() => model.forward(images).logits.argmax(1)));
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs fn with gradient recording on (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

function withGradMode<T>(on: boolean, fn: () => T): T {
  const prev = native.isGradEnabled();
  native.setGradEnabled(on);
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('noGrad/enableGrad: fn must be synchronous');
    return r;
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Whether operations are being recorded for autograd (false inside {@link noGrad}). */
export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}
