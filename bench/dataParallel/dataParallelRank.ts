// One rank (or the lone process) of bench/dataParallel/dataParallel.ts; prints one JSON line on rank 0.
//   train:     SGD steps of the Fashion-MNIST default model on random inputs, the global batch
//              split across ranks, gradients averaged as `sauron train` does; images/s.
//   allreduce: the gradient all-reduce of one step for ARCH (random gradients); ms per step.
import { performance } from 'node:perf_hooks';
import { createModel, scope } from '../../src/index.js';
import { barrier, destroyProcessGroup, getRank, getWorldSize, initProcessGroup, rand, randint, randn } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { allReduceGradients, broadcastBuffers } from '../../src/training/index.js';
import * as optim from '../../src/optim/index.js';

const world = Number(process.env.WORLD_SIZE ?? 1);
if (world > 1) initProcessGroup({ timeoutMs: 120000 });
const rank = getRank();
const mode = process.env.MODE ?? 'train';
const steps = Number(process.env.STEPS ?? 40);
const sync = () => (world > 1 ? barrier() : undefined);
let value: number;
if (mode === 'train') {
  const batch = Number(process.env.BATCH ?? 128);
  const model = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.5 });
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  model.train();
  const per = batch / getWorldSize();
  const x = rand([per, 1, 28, 28]).keep();
  const y = randint(0, 10, [per]).keep();
  let t0 = 0;
  for (let i = 0; i < steps + 5; i++) {
    if (i === 5) {
      sync();
      t0 = performance.now();
    }
    scope(() => {
      if (world > 1) broadcastBuffers(model);
      opt.zeroGrad();
      F.crossEntropy(model.forward(x).logits, y).backward();
      allReduceGradients(model.parameters());
      opt.step();
    });
  }
  sync();
  value = (steps * batch) / ((performance.now() - t0) / 1000);
} else {
  const arch = process.env.ARCH ?? 'small-cnn';
  const model =
    arch === 'small-cnn'
      ? createModel({ arch, inputShape: [1, 28, 28], numClasses: 10, width: 0.5 })
      : createModel({ arch, inputShape: [3, 32, 32], numClasses: 10 });
  const params = model.parameters();
  for (const p of params) p.grad = randn(p.shape);
  let t0 = 0;
  for (let i = 0; i < steps + 3; i++) {
    if (i === 3) {
      sync();
      t0 = performance.now();
    }
    allReduceGradients(params);
  }
  sync();
  value = (performance.now() - t0) / steps;
  if (rank === 0) console.log(JSON.stringify({ sizes: params.map((p) => p.numel()) }));
}
if (rank === 0) console.log(JSON.stringify({ value }));
if (world > 1) destroyProcessGroup();
