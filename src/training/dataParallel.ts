// Data parallelism on c10d, as PyTorch's DistributedDataParallel does it: every rank starts
// from rank 0's parameters and buffers, computes gradients on its share of the global batch,
// and the gradients are averaged across ranks in flattened buckets between backward and the
// optimizer step, so every rank takes the same step as one process on the whole batch.
import { noGrad } from '../tensor/autograd.js';
import { zeros } from '../tensor/creation.js';
import { allReduce, broadcast, getWorldSize } from '../tensor/distributed.js';
import { scope } from '../tensor/scope.js';
import { cat, type Tensor } from '../tensor/tensor.js';

/** Anything with parameters and buffers: a Module of any signature, a classifier. */
interface HasState {
  parameters(): Tensor[];
  namedBuffers(): [string, Tensor][];
}

/** Overwrites every rank's parameters and buffers with rank `root`'s, in place. */
export function broadcastParameters(m: HasState, root = 0): void {
  const tensors = [...m.parameters(), ...m.namedBuffers().map(([, b]) => b)];
  if (getWorldSize() > 1 && tensors.length) noGrad(() => broadcast(tensors, root));
}

/** Overwrites every rank's buffers (batch-norm running statistics) with rank `root`'s. */
export function broadcastBuffers(m: HasState, root = 0): void {
  const buffers = m.namedBuffers().map(([, b]) => b);
  if (getWorldSize() > 1 && buffers.length) noGrad(() => broadcast(buffers, root));
}

/**
 * Averages the parameters' gradients across ranks (sum / world size), in buckets of about
 * `bucketBytes` (DDP's default 25 MB), one all-reduce per bucket. A parameter without a
 * gradient on this rank contributes zeros, so every rank reduces the same buckets.
 */
export function allReduceGradients(params: Tensor[], o: { bucketBytes?: number } = {}): void {
  const w = getWorldSize();
  if (w === 1 || !params.length) return;
  const limit = o.bucketBytes ?? 25 * 1024 * 1024;
  const buckets: Tensor[][] = [[]];
  let bytes = 0;
  for (const p of params) {
    const size = p.numel() * 4;
    if (bytes > 0 && bytes + size > limit) {
      buckets.push([]);
      bytes = 0;
    }
    buckets[buckets.length - 1]!.push(p);
    bytes += size;
  }
  for (const bucket of buckets) {
    scope(() => {
      const grads = bucket.map((p) => p.grad);
      const flat = cat(
        grads.map((g, i) => (g ?? zeros(bucket[i]!.shape, { dtype: bucket[i]!.dtype, device: bucket[i]!.device })).flatten()),
        0,
      );
      allReduce(flat, 'sum');
      flat.div_(w);
      // back into the gradients in place (as DDP's bucket views), sparing a new tensor each
      let off = 0;
      noGrad(() =>
        bucket.forEach((p, i) => {
          const n = p.numel();
          const part = flat.narrow(0, off, n).view(p.shape);
          if (grads[i]) grads[i]!.copy_(part);
          else p.grad = part.clone();
          off += n;
        }),
      );
    });
  }
}
