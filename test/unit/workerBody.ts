// Run inside a worker_thread (through workerTensor.mjs) by workers.test.ts: tensor work on this thread's own addon
// instance, reported back as a checksum, the live-tensor count before and after, and what this
// thread's table said of a tensor id the main thread holds.
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../../src/native.js';
import { liveTensors, ones, scope, tensor } from '../../src/tensor/index.js';

const { n, seedValue, foreign } = workerData as { n: number; seedValue: number; foreign: number };
const before = liveTensors();
// The main thread's id names nothing in this thread's (still empty) table.
let foreignError = '';
try {
  native.tensor.shape(foreign);
} catch (e) {
  foreignError = (e as Error).message;
}
let sum = 0;
for (let i = 0; i < n; i++) {
  sum += scope(() => {
    // [2, 2] of seedValue times ones [2, 2]: every entry 2 * seedValue, sum 8 * seedValue
    const a = tensor([
      [seedValue, seedValue],
      [seedValue, seedValue],
    ]);
    return a
      .matmul(ones([2, 2]))
      .sum()
      .item();
  });
}
parentPort!.postMessage({ sum, before, after: liveTensors(), foreignError });
