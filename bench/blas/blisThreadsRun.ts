// One side of bench/blas/blisThreads.ts, run in its own process (BLIS reads its thread count once):
// milliseconds for the default model's fully connected layer (forward and backward to the input)
// and for its whole input-gradient step, as JSON.
import { Generator, scope } from '../../src/index.js';
import { grad, randn } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { inputGradStep } from '../shared/inputGradStep.js';

const batch = Number(process.env.BATCH ?? 256);
const rounds = 5;
const steps = 10;
const best = (fn: () => void) => {
  fn();
  let b = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) fn();
    b = Math.min(b, (performance.now() - t0) / steps);
  }
  return b;
};
const g = new Generator(0);
const w = randn([128, 1568], { generator: g }).keep();
const b = randn([128], { generator: g }).keep();
const h = randn([batch, 1568], { generator: g }).keep();
const linear = best(() =>
  scope(() => {
    const xi = h.detach().requiresGrad_();
    grad(F.linear(xi, w, b).sum(), xi);
  }),
);
const step = best(inputGradStep(batch, g));
console.log(JSON.stringify({ linear, step }));
