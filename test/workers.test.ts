// The addon's tensor table is per addon instance: worker threads that load it do tensor work
// at the same time as the main thread, each in its own table (a shared table without a lock
// corrupted ids or crashed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { liveTensors, ones, scope } from '../src/tensor/index.js';

function runWorker(n: number, seedValue: number): Promise<{ sum: number; before: number; after: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./workerTensor.mjs', import.meta.url), { workerData: { n, seedValue } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
}

test('two workers and the main thread do tensor work at once, each in its own table', async () => {
  const kept = ones([3]).keep(); // a main-thread tensor the workers must not see
  const mainBefore = liveTensors();
  const n = 3000;
  const workers = [runWorker(n, 1), runWorker(n, 2)];
  let mainSum = 0;
  for (let i = 0; i < 200; i++) {
    mainSum += scope(() => ones([4]).mul(3).sum().item());
    await new Promise((r) => setImmediate(r));
  }
  const [a, b] = await Promise.all(workers);
  assert.equal(a!.sum, 8 * n);
  assert.equal(b!.sum, 16 * n);
  assert.equal(mainSum, 12 * 200);
  // each worker's table started empty (the main thread's tensor is not in it) and ends empty
  assert.deepEqual([a!.before, a!.after, b!.before, b!.after], [0, 0, 0, 0]);
  assert.equal(liveTensors(), mainBefore);
  kept.dispose();
});
