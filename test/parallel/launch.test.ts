// Launching ranks: `sauron launch` and PyTorch's own torchrun (`--no-python`) start processes
// that meet through c10d; a failed rank stops the others and is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ROOT, freePort } from '../support/helpers.js';
import { native } from '../../src/native.js';
import { SAURON_BIN, sauron } from '../support/cli.js';

const skip = !native.hasGloo && 'the addon was built without Gloo (install libgloo-dev and run npm ci)';
const child = ['node', '--import', 'tsx', join(ROOT, 'test', 'parallel', 'distributedChild.ts')];

function results(stdout: string, prefix: (rank: number) => string): Record<string, unknown>[] {
  return [0, 1].map((rank) => {
    const line = stdout.split('\n').find((l) => l.startsWith(`${prefix(rank)}{`));
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
  const r = sauron(['launch', '--nproc', '2', '--grace', '2', '--', ...child], { env: { DIE: '1', TIMEOUT_MS: '3000' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /sauron: rank 0 exited with code 3; the other ranks were stopped/);
  assert.match(sauron(['launch', '--nproc', '0', '--', 'true']).stderr, /--nproc must be a positive integer/);
});

// Debian bookworm's torchrun (PyTorch 1.13 under Python 3.11) cannot parse its own default
// --redirects/--tee "0" (3.11's IntFlag no longer iterates the zero member), so it fails before
// starting anything; "1" parses. docs/gpus-and-clusters.md gives the same flags.
const TORCHRUN_FIX = ['--redirects', '1', '--tee', '1'];

function torchrunWorks(): true | string {
  const r = spawnSync(
    '/usr/bin/python3',
    ['-m', 'torch.distributed.run', ...TORCHRUN_FIX, '--no_python', '--nproc_per_node', '1', 'true'],
    { encoding: 'utf8' },
  );
  if (r.error || r.status === null) return "needs Debian's python3-torch (torchrun)";
  return r.status === 0 ? true : `this torchrun does not start processes: ${r.stderr.trim().split('\n').pop()}`;
}
const torchrun = torchrunWorks();

function torchrunArgs(port: number, command: string[]): string[] {
  // torchrun 1.13 spells its options with underscores (2.x takes both spellings)
  return [
    '-m',
    'torch.distributed.run',
    ...TORCHRUN_FIX,
    '--no_python',
    '--nnodes',
    '1',
    '--nproc_per_node',
    '2',
    '--master_addr',
    '127.0.0.1',
    '--master_port',
    String(port),
    ...command,
  ];
}

test('torchrun --no_python launches two ranks as well', { skip: skip || (torchrun !== true && torchrun) }, async () => {
  const r = spawnSync('/usr/bin/python3', torchrunArgs(await freePort(), child), { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.includes('{'));
  const outs = lines.map((l) => JSON.parse(l.slice(l.indexOf('{'))));
  assert.deepEqual(outs.map((o) => o.rank).sort(), [0, 1]);
  for (const o of outs)
    assert.deepEqual(o.gathered, [
      [0, 0],
      [1, 1],
    ]);
});

test('torchrun --no_python runs a 2-process sauron train; rank 0 writes the run', {
  skip: skip || (torchrun !== true && torchrun),
}, async () => {
  const out = mkdtempSync(join(tmpdir(), 'sauron-torchrun-'));
  try {
    const r = spawnSync(
      '/usr/bin/python3',
      torchrunArgs(await freePort(), [
        process.execPath,
        SAURON_BIN,
        'train',
        '--limit',
        '256',
        '--test-limit',
        '64',
        '--epochs',
        '1',
        '--val-limit',
        '0',
        '--out',
        join(out, 'run'),
      ]),
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(existsSync(join(out, 'run', 'model.safetensors')));
    // rank 0 alone reports
    assert.equal(r.stdout.split('\n').filter((l) => l.includes('{"out"')).length, 1, r.stdout);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
