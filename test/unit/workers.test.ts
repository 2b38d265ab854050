// The addon's tensor table is per addon instance: worker threads that load it do tensor work
// at the same time as the main thread, each in its own table (a shared table without a lock
// corrupted ids or crashed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { liveTensors, ones, scope } from '../../src/tensor/index.js';

interface WorkerResult {
  sum: number;
  before: number;
  after: number;
  foreignError: string;
}

function runWorker(n: number, seedValue: number, foreign: number): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./workerTensor.mjs', import.meta.url), { workerData: { n, seedValue, foreign } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
}

test('two workers and the main thread do tensor work at once, each in its own table', async () => {
  const kept = ones([3]).keep(); // a main-thread tensor the workers must not see
  const mainBefore = liveTensors();
  const n = 3000;
  const workers = [runWorker(n, 1, kept.native), runWorker(n, 2, kept.native)];
  // the main thread keeps working (yielding so the workers' messages arrive) until both are done
  let done = false;
  const all = Promise.all(workers);
  all.then(
    () => (done = true),
    () => (done = true),
  );
  let mainSum = 0;
  let rounds = 0;
  while (!done || rounds < 200) {
    mainSum += scope(() =>
      ones([2, 2])
        .mul(3)
        .matmul(ones([2, 2]))
        .sum()
        .item(),
    );
    rounds++;
    await new Promise((r) => setImmediate(r));
  }
  const [a, b] = await all;
  assert.equal(a!.sum, 8 * n);
  assert.equal(b!.sum, 16 * n);
  assert.equal(mainSum, 24 * rounds);
  // each worker's table started empty (the main thread's tensor is not in it) and ends empty
  assert.deepEqual([a!.before, a!.after, b!.before, b!.after], [0, 0, 0, 0]);
  // the main thread's tensor id is not a tensor in either worker
  assert.deepEqual([a!.foreignError, b!.foreignError], ['expected a tensor', 'expected a tensor']);
  assert.equal(liveTensors(), mainBefore);
  kept.dispose();
});
