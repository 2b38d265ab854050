// The attack step (forward, cross-entropy, backward to the input) of a model in eval mode, timed
// with batch norm as a layer and folded into the convolutions, interleaved: best of `rounds`
// rounds of `steps` steps each, in milliseconds. Shared by bench/batchNorm/foldBatchNorm.ts and bench/blas/blasStep.ts.
import { scope, type ImageClassifier, type Tensor } from '../../src/index.js';
import { grad } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';

export function timeFolding(model: ImageClassifier, x: Tensor, y: Tensor, steps = 10, rounds = 3): { batchNorm: number; folded: number } {
  const step = () =>
    scope(() => {
      const xi = x.detach().requiresGrad_();
      grad(F.crossEntropy(model.forward(xi).logits, y), xi);
    });
  step();
  withFoldedBatchNorm(model, step);
  let batchNorm = Infinity;
  let folded = Infinity;
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    for (let s = 0; s < steps; s++) step();
    batchNorm = Math.min(batchNorm, (performance.now() - t0) / steps);
    t0 = performance.now();
    withFoldedBatchNorm(model, () => {
      for (let s = 0; s < steps; s++) step();
    });
    folded = Math.min(folded, (performance.now() - t0) / steps);
  }
  return { batchNorm, folded };
}
