// One rank of the sync-batch-norm test (or the single-process reference, WORLD_SIZE=1 and
// REFERENCE=1): a BatchNorm2d on its share of one fixed batch, a loss that sums over rows (a
// ReLU before it with RELU=1), backward; prints what the test compares.
import { Generator, scope, noGrad } from '../../src/index.js';
import { initProcessGroup, getRank, getWorldSize, destroyProcessGroup, rand, allReduce } from '../../src/tensor/index.js';
import * as nn from '../../src/nn/index.js';
import { convertSyncBatchNorm } from '../../src/nn/layers.js';

const world = Number(process.env.WORLD_SIZE ?? 1);
if (world > 1) initProcessGroup({ timeoutMs: 20000 });
const rank = getRank();
const g = new Generator(3);
const n = 10; // unequal shares on 3 ranks: 3, 3, 4
const x = rand([n, 4, 3, 3], { generator: g }).mul(3).add(1).keep();
const coef = rand([n, 4, 3, 3], { generator: g }).keep();
const bn = new nn.BatchNorm2d(4);
noGrad(() => {
  bn.weight.copy_(rand([4], { generator: g }).add(0.5));
  bn.bias.copy_(rand([4], { generator: g }));
});
// the reference keeps ATen's own batch norm; the ranks use the synchronised kernel
if (!process.env.REFERENCE) convertSyncBatchNorm(bn);
const lo = Math.floor((rank * n) / getWorldSize());
const hi = Math.floor(((rank + 1) * n) / getWorldSize());
const out = scope(() => {
  const xs = x
    .narrow(0, lo, hi - lo)
    .detach()
    .requiresGrad_(true);
  const y = bn.forward(xs);
  // the loss is a sum over rows, so each rank's share adds up to the whole batch's
  (process.env.RELU ? y.relu() : y)
    .mul(coef.narrow(0, lo, hi - lo))
    .sum()
    .backward();
  const grads = [bn.weight.grad!.clone(), bn.bias.grad!.clone()];
  if (world > 1) noGrad(() => allReduce(grads, 'sum'));
  return {
    y: Array.from(y.detach().toArray<'float32'>()),
    gx: Array.from(xs.grad!.toArray<'float32'>()),
    gw: Array.from(grads[0]!.toArray<'float32'>()),
    gb: Array.from(grads[1]!.toArray<'float32'>()),
    rm: Array.from(bn.runningMean.toArray<'float32'>()),
    rv: Array.from(bn.runningVar.toArray<'float32'>()),
  };
});
console.log(JSON.stringify({ rank, lo, hi, ...out }));
if (world > 1) destroyProcessGroup();
