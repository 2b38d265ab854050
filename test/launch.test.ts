// Launching ranks: `sauron launch` and PyTorch's own torchrun (`--no-python`) start processes
// that meet through c10d; a failed rank stops the others and is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, freePort } from './helpers.js';
import { native } from '../src/native.js';

const skip = !native.hasGloo && 'the addon was built without Gloo (install libgloo-dev and run npm ci)';
const child = ['node', '--import', 'tsx', join(ROOT, 'test', 'distributedChild.ts')];

function sauron(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(ROOT, 'bin', 'sauron.js'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
}

function results(stdout: string, prefix: (rank: number) => string): Record<string, unknown>[] {
  return [0, 1].map((rank) => {
    const line = stdout.split('\n').find((l) => l.startsWith(prefix(rank) + '{'));
    assert.ok(line, `rank ${rank} printed its result:\n${stdout}`);
    return JSON.parse(line!.slice(prefix(rank).length));
  });
}

test('sauron launch --nproc 2 starts two ranks that meet; their output carries the rank', { skip }, () => {
  const r = sauron(['launch', '--nproc', '2', '--', ...child]);
  assert.equal(r.status, 0, r.stderr);
  for (const [rank, out] of results(r.stdout, (k) => `[rank ${k}] `).entries()) {
    assert.equal(out.rank, rank);
    assert.deepEqual(out.sum, [3, 30]);
  }
});

test('sauron launch: a failed rank stops the others and is named', { skip }, () => {
  const t0 = Date.now();
  const r = sauron(['launch', '--nproc', '2', '--grace', '2', '--', ...child], { DIE: '1', TIMEOUT_MS: '3000' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /sauron: rank 0 exited with code 3; the other ranks were stopped/);
  assert.ok(Date.now() - t0 < 30000);
  assert.match(sauron(['launch', '--nproc', '0', '--', 'true']).stderr, /--nproc must be a positive integer/);
});

// Debian bookworm's torchrun (PyTorch 1.13 under Python 3.11) fails before starting anything
// (its Std enum no longer parses under 3.11's enum rules): the test runs where torchrun works.
function torchrunWorks(): true | string {
  const r = spawnSync('/usr/bin/python3', ['-m', 'torch.distributed.run', '--no_python', '--nproc_per_node', '1', 'true'], { encoding: 'utf8' });
  if (r.error || r.status === null) return 'needs Debian\'s python3-torch (torchrun)';
  return r.status === 0 ? true : `this torchrun does not start processes: ${r.stderr.trim().split('\n').pop()}`;
}
const torchrun = torchrunWorks();

// torchrun 1.13 spells its options with underscores (2.x takes both spellings)
test('torchrun --no_python launches two ranks as well', { skip: skip || (torchrun !== true && torchrun) }, async () => {
  const port = await freePort();
  const r = spawnSync('/usr/bin/python3', ['-m', 'torch.distributed.run', '--no_python', '--nnodes', '1', '--nproc_per_node', '2',
    '--master_addr', '127.0.0.1', '--master_port', String(port), ...child], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.includes('{'));
  const outs = lines.map((l) => JSON.parse(l.slice(l.indexOf('{'))));
  assert.deepEqual(outs.map((o) => o.rank).sort(), [0, 1]);
  for (const o of outs) assert.deepEqual(o.gathered, [[0, 0], [1, 1]]);
});
