// Batch norm folded into the convolution before it, for eval-mode work that runs a model many
// times with fixed weights (attacks): bn(conv(x)) = conv'(x) with
//   W' = W * s,  b' = (b - mean) * s + beta,  s = gamma / sqrt(var + eps)  (per output channel),
// so each step saves the batch-norm kernels forward and backward and the memory traffic of
// their outputs (bench/batchNorm/foldBatchNorm.ts measures it). Equal to the unfolded model up to float32
// rounding (the per-channel factors are computed in float64).
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { zeros } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { BatchNorm2d, Conv2d, Sequential } from './layers.js';
import type { AnyModule } from './module.js';

/**
 * The (conv, batch norm) pairs of `m` whose batch norm reads only that convolution's output:
 * neighbours in a Sequential, and a block's children named `convK` and `bnK` (ResNet's stem and
 * blocks, as in torchvision). Every model of this package follows one of the two.
 */
export function convBatchNormPairs(m: AnyModule): [Conv2d, BatchNorm2d][] {
  const out: [Conv2d, BatchNorm2d][] = [];
  for (const [, mod] of m.namedModules()) {
    if (mod instanceof Sequential) {
      mod.layers.forEach((l, i) => {
        const next = mod.layers[i + 1];
        if (l instanceof Conv2d && next instanceof BatchNorm2d) out.push([l, next]);
      });
      continue;
    }
    const children = new Map(mod.namedChildren());
    for (const [name, child] of children) {
      const k = /^conv(\d*)$/.exec(name);
      const bn = k ? children.get(`bn${k[1]}`) : undefined;
      if (child instanceof Conv2d && bn instanceof BatchNorm2d) out.push([child, bn]);
    }
  }
  return out;
}

function folded(conv: Conv2d, bn: BatchNorm2d): { weight: Tensor; bias: Tensor } {
  // its own scope: the temporaries go at once
  return scope(() =>
    noGrad(() => {
      const dtype = conv.weight.dtype;
      const eps = bn.opts.eps ?? 1e-5;
      // the per-channel factors in float64; the weight is scaled in its own dtype, and an
      // elementwise product keeps its memory format (channels-last models stay so)
      const s = bn.weight.to('float64').div(bn.runningVar.to('float64').add(eps).sqrt());
      const weight = conv.weight.mul(s.to(dtype).view([-1, 1, 1, 1]));
      const b0 = conv.bias ? conv.bias.to('float64') : zeros([conv.outChannels], { dtype: 'float64', device: conv.weight.device });
      const b = b0.sub(bn.runningMean.to('float64')).mul(s).add(bn.bias.to('float64')).to(dtype);
      return { weight: weight.keep(), bias: b.keep() };
    }),
  );
}

/**
 * Runs `fn` with every foldable batch norm of `m` folded into its convolution. Only in eval
 * mode (training-mode batch norm uses the batch's statistics, which no weight can hold); a
 * model in training mode, or without such pairs, runs unchanged. Restored when `fn` returns or
 * throws; the parameters are never written.
 */
export function withFoldedBatchNorm<T>(m: AnyModule, fn: () => T): T {
  const pairs = convBatchNormPairs(m).filter(([c, bn]) => !c.training && !bn.training && !c.folded && !bn.folded);
  if (!pairs.length) return fn();
  const made: Tensor[] = [];
  try {
    for (const [conv, bn] of pairs) {
      const f = folded(conv, bn);
      made.push(f.weight, f.bias);
      conv.folded = f;
      bn.folded = true;
    }
    return fn();
  } finally {
    for (const [conv, bn] of pairs) {
      conv.folded = null;
      bn.folded = false;
    }
    for (const t of made) t.dispose();
  }
}
