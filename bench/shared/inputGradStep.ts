// The attack's input-gradient step (forward, cross-entropy, backward to the input) of the default
// model's shape (small CNN, width 0.5, eval mode, batch norm as a layer), random weights and
// inputs: the unit bench/maxPool/maxPool.ts and bench/blas/blisThreadsRun.ts time.
import { createModel, scope, type Generator } from '../../src/index.js';
import { grad, rand, randint } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';

export function inputGradStep(batch: number, g: Generator): () => void {
  const model = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.5 }, { generator: g }).eval();
  const x0 = rand([batch, 1, 28, 28], { generator: g }).keep();
  const goal = randint(0, 10, [batch], { generator: g }).keep();
  return () =>
    scope(() => {
      const xi = x0.detach().requiresGrad_();
      grad(F.crossEntropy(model.forward(xi).logits, goal), xi);
    });
}
