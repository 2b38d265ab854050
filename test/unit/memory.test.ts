// Native memory stays flat over a long training run when steps are scoped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, scope, Generator } from '../../src/index.js';
import { rand, randint, liveTensors } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';

const STEPS = 2000;
const WARMUP = 200;
// Bound: resident memory may grow by at most 24 MiB between step 200 and step 2000
// (allocator noise); a leak of one small batch per step would add >300 MiB.
const RSS_BOUND_MIB = 24;

test(`${STEPS} training steps hold flat memory (RSS growth < ${RSS_BOUND_MIB} MiB, no live tensors left)`, () => {
  const g = new Generator(0);
  const model = createModel({ arch: 'small-cnn', inputShape: [1, 12, 12], numClasses: 10, width: 0.25 }, { generator: g });
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const before = liveTensors();
  let rssWarm = 0;
  for (let step = 0; step < STEPS; step++) {
    scope(() => {
      const x = rand([16, 1, 12, 12], { generator: g });
      const y = randint(0, 10, [16], { generator: g });
      opt.zeroGrad();
      const { logits } = model.forward(x);
      F.crossEntropy(logits, y).backward();
      opt.step();
    });
    if (step === WARMUP) rssWarm = process.memoryUsage.rss();
  }
  const growth = (process.memoryUsage.rss() - rssWarm) / 2 ** 20;
  // Parameter gradients are owned by the parameters; zeroGrad releases them.
  opt.zeroGrad();
  assert.equal(liveTensors(), before, 'every tensor created in a step was freed');
  assert.ok(growth < RSS_BOUND_MIB, `RSS grew by ${growth.toFixed(1)} MiB`);
  model.dispose();
});

// glibc maps allocations over its mmap threshold (at most 32 MB) afresh each time, and every
// page of a fresh mapping faults in zero-filled: at 2,048 attack rows that was about 2 GB per
// step. The addon keeps such blocks in the heap, so a large tensor made again and again
// faults in only while the heap grows to fit it.
test('a large tensor allocated again and again is not faulted in afresh each time (host memory stays in the heap)', (t) => {
  if (process.env.MALLOC_MMAP_THRESHOLD_ || process.env.MALLOC_TRIM_THRESHOLD_ || process.env.MALLOC_MMAP_MAX_) {
    t.skip('the user set glibc malloc options; the addon keeps them');
    return;
  }
  const MIB = 96;
  const make = () =>
    scope(() => {
      rand([MIB * 2 ** 18], { generator: new Generator(0) })
        .sum()
        .item();
    });
  // the heap reaches its working size within about ten rounds (measured: 3 to 11)
  for (let i = 0; i < 20; i++) make();
  const f0 = process.resourceUsage().minorPageFault;
  for (let i = 0; i < 5; i++) make();
  const faultedMib = ((process.resourceUsage().minorPageFault - f0) * 4096) / 2 ** 20;
  // mapped afresh (MALLOC_MMAP_MAX_ set), every round faults in all 96 MiB: 480 over five
  assert.ok(faultedMib < 2 * MIB, `${faultedMib.toFixed(0)} MiB faulted in over five rounds of a ${MIB} MiB tensor`);
});
