// One rank of dataParallel.test.ts, or the single process (WORLD_SIZE=1): a small MLP
// trained for a few SGD steps on its share of one fixed global batch; prints its weights.
import { Generator, scope } from '../../src/index.js';
import { initProcessGroup, getRank, getWorldSize, destroyProcessGroup, rand, randint } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import * as nn from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import { allReduceGradients, broadcastParameters } from '../../src/training/dataParallel.js';

const world = Number(process.env.WORLD_SIZE ?? 1);
if (world > 1) initProcessGroup({ timeoutMs: 20000 });
const rank = getRank();
// a different start on every rank: broadcastParameters must make them equal
const g = new Generator(world > 1 ? 100 + rank : 100);
const model = new nn.Sequential(new nn.Linear(20, 16, { generator: g }), new nn.ReLU(), new nn.Linear(16, 4, { generator: g }));
broadcastParameters(model);
const data = new Generator(7);
const x = rand([128, 20], { generator: data }).keep();
const y = randint(0, 4, [128], { generator: data }).keep();
const per = 128 / getWorldSize();
const xs = x.narrow(0, rank * per, per).keep();
const ys = y.narrow(0, rank * per, per).keep();
const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
for (let step = 0; step < Number(process.env.STEPS ?? 6); step++) {
  scope(() => {
    model.zeroGrad();
    F.crossEntropy(model.forward(xs), ys).backward();
    allReduceGradients(model.parameters(), { bucketBytes: 512 }); // several buckets
    opt.step();
  });
}
console.log(JSON.stringify({ rank, weights: model.parameters().map((p) => Array.from(p.toArray<'float32'>())) }));
if (world > 1) destroyProcessGroup();
