// A chain of modules, each fed the previous one's output, as torch.nn.Sequential; its front
// convolutions run in one native call where they can (nn/convStack.ts).
import type { Tensor } from '../tensor/tensor.js';
import { runConvStack, stackPartOf } from './convStack.js';
import { Module } from './module.js';

/** Runs its children in order; they are named "0", "1", ... as in PyTorch. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(x: Tensor): Tensor {
    const stack = runConvStack(x, () => this.layers.map(stackPartOf));
    let cur = stack ? stack.out : x;
    for (const m of stack ? this.layers.slice(stack.count) : this.layers) {
      const next = m.forward(cur);
      // Intermediate activations are owned by the autograd graph once used; free our handles.
      if (cur !== x && cur !== next) cur.dispose();
      cur = next;
    }
    return cur === x ? x.clone() : cur;
  }
}
