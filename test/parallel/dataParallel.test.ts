// Data parallelism: two ranks with half the batch each take the same steps as one process on
// the whole batch (a model without batch norm), starting from different weights on each rank.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, freePort } from '../support/helpers.js';
import { native } from '../../src/native.js';

const skip = !native.hasGloo && 'the addon was built without Gloo (install libgloo-dev and run npm ci)';

function run(env: Record<string, string>): Promise<{ rank: number; weights: number[][] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'parallel', 'dataParallelChild.ts')], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`exit ${code}: ${err}`)),
    );
  });
}

test('2 ranks x 64 inputs take the same SGD steps as 1 process x 128 (to 1e-5)', { skip }, async () => {
  const port = String(await freePort());
  const base = { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, WORLD_SIZE: '2' };
  const [r0, r1] = await Promise.all([run({ ...base, RANK: '0' }), run({ ...base, RANK: '1' })]);
  const one = await run({ WORLD_SIZE: '1', RANK: '0' });
  for (const r of [r0!, r1!]) {
    one.weights.forEach((w, i) => {
      const d = Math.max(...w.map((v, k) => Math.abs(v - r.weights[i]![k]!)));
      assert.ok(d < 1e-5, `rank ${r.rank}, parameter ${i}: ${d}`);
    });
  }
  // and the steps moved the weights (the comparison is not between two untouched starts)
  const start = await run({ WORLD_SIZE: '1', RANK: '0', STEPS: '0' });
  assert.ok(Math.max(...one.weights[0]!.map((v, k) => Math.abs(v - start.weights[0]![k]!))) > 1e-3);
});

test('syncBatchNorm on 3 ranks (3/3/4 rows) equals batch norm on the whole batch: output, input and parameter gradients, running statistics', {
  skip,
}, async () => {
  const child = join(ROOT, 'test', 'parallel', 'syncBatchNormChild.ts');
  const runChild = (env: Record<string, string>) =>
    new Promise<any>((resolve, reject) => {
      const c = spawn(process.execPath, ['--import', 'tsx', child], { cwd: ROOT, env: { ...process.env, ...env } });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`exit ${code}: ${err}`))));
    });
  for (const relu of ['', '1']) {
    const port = String(await freePort());
    const ranks = await Promise.all(
      [0, 1, 2].map((r) => runChild({ MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, WORLD_SIZE: '3', RANK: String(r), RELU: relu })),
    );
    // the reference: PyTorch's batch norm (ATen's kernel) on the whole batch in one process
    const one = await runChild({ WORLD_SIZE: '1', RANK: '0', RELU: relu, REFERENCE: '1' });
    assert.deepEqual(
      ranks.map((r) => r.hi - r.lo),
      [3, 3, 4],
    );
    const close = (a: number[], b: number[], tol: number, what: string) => {
      assert.equal(a.length, b.length, what);
      const d = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
      assert.ok(d < tol, `${what}: ${d}`);
    };
    close(
      ranks.flatMap((r) => r.y),
      one.y,
      1e-5,
      'output',
    );
    close(
      ranks.flatMap((r) => r.gx),
      one.gx,
      1e-5,
      'input gradient',
    );
    for (const r of ranks) {
      close(r.gw, one.gw, 1e-4, 'weight gradient (sum over ranks)');
      close(r.gb, one.gb, 1e-4, 'bias gradient (sum over ranks)');
      close(r.rm, one.rm, 1e-6, 'running mean');
      close(r.rv, one.rv, 1e-6, 'running variance');
    }
  }
});
