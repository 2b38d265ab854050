// `sauron train` as several ranks: each trains on its share of every global batch and rank 0
// writes the run. Compared with one process on the same settings (same seed, same global
// batch): the weights after several steps, the metrics, the files; a rank that dies stops
// the other with an error, and the run resumes on another number of processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, pauseAt, waitUntil } from '../support/helpers.js';
import { native } from '../../src/native.js';
import { loadSafetensors } from '../../src/serialization/safetensors.js';
import { readMetrics } from '../../src/training/runDir.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { modelFor } from '../../src/training/train.js';
import type { TrainConfig } from '../../src/training/config.js';
import { openDataset } from '../../src/data/registry.js';
import { saveModel } from '../../src/models/runFolder.js';
import { sauronOk, startSauron } from '../support/cli.js';

const skip = !native.hasGloo && 'the addon was built without Gloo (install libgloo-dev and run npm ci)';

/** Largest absolute difference over every float tensor of two model files, and the tensors compared. */
function maxDiff(a: string, b: string): { diff: number; compared: number } {
  const x = loadSafetensors(join(a, 'model.safetensors'));
  const y = loadSafetensors(join(b, 'model.safetensors'));
  let diff = 0;
  let compared = 0;
  try {
    assert.deepEqual([...x.tensors.keys()].sort(), [...y.tensors.keys()].sort());
    for (const [k, t] of x.tensors) {
      if (t.dtype !== 'float32') continue;
      const p = t.toArray<'float32'>();
      const q = (y.tensors.get(k) as Tensor).toArray<'float32'>();
      for (let i = 0; i < p.length; i++) diff = Math.max(diff, Math.abs(p[i]! - q[i]!));
      compared++;
    }
  } finally {
    for (const t of [...x.tensors.values(), ...y.tensors.values()]) t.dispose();
  }
  return { diff, compared };
}

const files = (dir: string) =>
  readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .sort();

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'sauron-ddp-'));
}

test('2 ranks x 64 take the steps of 1 process x 128 (no batch norm, 8 steps, crop augmentation) to 1e-5; rank 0 alone writes', {
  skip,
}, async () => {
  const dir = tmp();
  try {
    const args = [
      'train',
      '--limit',
      '512',
      '--test-limit',
      '200',
      '--epochs',
      '2',
      '--batch-size',
      '128',
      '--val-limit',
      '32',
      '--schedule',
      'constant',
      '--lr',
      '0.05',
      '--no-batch-norm',
    ];
    sauronOk([...args, '--out', join(dir, 'one')]);
    const r = sauronOk(['launch', '--nproc', '2', '--', ...args, '--out', join(dir, 'two')]);
    // only rank 0 reports
    assert.match(r.stdout, /\[rank 0\] \{"out"/);
    assert.doesNotMatch(r.stdout, /\[rank 1\] \{/);
    const { diff, compared } = maxDiff(join(dir, 'one'), join(dir, 'two'));
    assert.ok(compared >= 8, `compared ${compared} tensors`);
    assert.ok(diff < 1e-5, `weights differ by ${diff}`);
    assert.deepEqual(files(join(dir, 'two')), files(join(dir, 'one')));
    const m1 = readMetrics(join(dir, 'one'));
    const m2 = readMetrics(join(dir, 'two'));
    assert.equal(m2.length, 2);
    for (const [i, m] of m1.entries()) {
      const n = m2[i]!;
      // sums over ranks are the same sums added in another order
      assert.ok(Math.abs(m.loss - n.loss) < 1e-5, `epoch ${i + 1} loss ${m.loss} vs ${n.loss}`);
      assert.equal(n.trainAccuracy, m.trainAccuracy);
      assert.equal(n.testAccuracy, m.testAccuracy);
      assert.equal(n.pgdSuccessRate, m.pgdSuccessRate);
    }
    // the steps moved the model: a comparison of two untouched starts would prove nothing
    const config = JSON.parse(readFileSync(join(dir, 'one', 'config.json'), 'utf8')) as TrainConfig;
    const start = modelFor(config, await openDataset('fashion-mnist', 'train', { limit: 512 }));
    try {
      saveModel(join(dir, 'start'), start);
    } finally {
      start.dispose();
    }
    const moved = maxDiff(join(dir, 'one'), join(dir, 'start')).diff;
    assert.ok(moved > 1e-3, `training moved the weights by ${moved} only`);
    // a run without batch norm loads back as one (its manifest says so): eval gives its accuracy
    const ev = JSON.parse(
      sauronOk(['eval', '--model', join(dir, 'two'), '--limit', '200'])
        .stdout.trim()
        .split('\n')
        .pop()!,
    );
    const manifest = JSON.parse(readFileSync(join(dir, 'two', 'model.json'), 'utf8'));
    assert.equal(manifest.batchNorm, false);
    assert.equal(ev.accuracy, manifest.metrics.testAccuracy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--sync-bn: 2 ranks match 1 process on a batch-norm model (4 steps) to 1e-5; without it they do not', { skip }, () => {
  const dir = tmp();
  try {
    const args = [
      'train',
      '--limit',
      '256',
      '--test-limit',
      '100',
      '--epochs',
      '2',
      '--batch-size',
      '128',
      '--val-limit',
      '0',
      '--schedule',
      'constant',
      '--lr',
      '0.01',
    ];
    sauronOk([...args, '--sync-bn', '--out', join(dir, 'one')]);
    sauronOk(['launch', '--nproc', '2', '--', ...args, '--sync-bn', '--out', join(dir, 'sync')]);
    sauronOk(['launch', '--nproc', '2', '--', ...args, '--out', join(dir, 'local')]);
    const synced = maxDiff(join(dir, 'one'), join(dir, 'sync'));
    assert.ok(synced.diff < 1e-5, `weights differ by ${synced.diff}`);
    // per-rank statistics (DDP's default) are a different computation: the check can fail
    const local = maxDiff(join(dir, 'one'), join(dir, 'local'));
    assert.ok(local.diff > 1e-4, `per-rank batch norm differs by only ${local.diff}`);
    assert.match(readFileSync(join(dir, 'sync', 'config.json'), 'utf8'), /"syncBn": true/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("3 ranks with unequal shares (34/33/33) take one process's step for every method", { skip }, () => {
  const dir = tmp();
  try {
    for (const method of ['standard', 'pgd', 'sensitivity']) {
      const args = [
        'train',
        '--limit',
        '100',
        '--test-limit',
        '50',
        '--epochs',
        '1',
        '--batch-size',
        '100',
        '--val-limit',
        '10',
        '--schedule',
        'constant',
        '--lr',
        '0.05',
        '--no-batch-norm',
        '--method',
        method,
      ];
      sauronOk([...args, '--out', join(dir, `${method}-1`)]);
      sauronOk(['launch', '--nproc', '3', '--', ...args, '--out', join(dir, `${method}-3`)]);
      const { diff } = maxDiff(join(dir, `${method}-1`), join(dir, `${method}-3`));
      assert.ok(diff < 1e-6, `${method}: weights differ by ${diff}`);
      const [a] = readMetrics(join(dir, `${method}-1`));
      const [b] = readMetrics(join(dir, `${method}-3`));
      assert.equal(b!.pgdSuccessRate, a!.pgdSuccessRate, method);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a killed rank stops the other with an error naming the collective and the rank; --resume on 1 process finishes the run', {
  skip,
}, async () => {
  const dir = tmp();
  try {
    const args = [
      'train',
      '--limit',
      '2048',
      '--test-limit',
      '100',
      '--epochs',
      '4',
      '--batch-size',
      '128',
      '--val-limit',
      '0',
      '--schedule',
      'constant',
      '--lr',
      '0.02',
      '--no-batch-norm',
      '--dist-timeout',
      '20',
    ];
    const out = join(dir, 'run');
    const port = String(await freePort());
    // rank 1 stops at the start of epoch 2 (rank 0 then waits for it in the first all-reduce)
    const pause = pauseAt('train epoch 2 batch 0', join(dir, 'pause'));
    const ranks = [0, 1].map((rank) => {
      const child = startSauron([...args, '--out', out], {
        env: {
          RANK: String(rank),
          LOCAL_RANK: String(rank),
          WORLD_SIZE: '2',
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: port,
          ...(rank === 1 ? pause.env : {}),
        },
      });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      const done = new Promise<{ code: number | null }>((resolve) => child.on('exit', (code) => resolve({ code })));
      return { child, done, err: () => err };
    });
    // kill rank 1 there, once rank 0 has checkpointed the first epoch
    await pause.reached(ranks[1]!.child);
    await waitUntil(() => existsSync(join(out, 'metrics.jsonl')), `rank 0's first checkpoint: ${ranks[0]!.err()}`, ranks[0]!.child);
    ranks[1]!.child.kill('SIGKILL');
    const r0 = await ranks[0]!.done;
    assert.notEqual(r0.code, 0, 'rank 0 went on without rank 1');
    assert.match(ranks[0]!.err(), /sauron: allReduce on rank 0 of 2 failed .*: rank 1 stopped or cannot be reached/);
    const before = readMetrics(out);
    assert.equal(before.length, 1, `${before.length} epochs were written before the kill`);
    // resume on one process: the global batch is the run's, so the schedule and steps carry on
    sauronOk(['train', '--resume', out]);
    const after = readMetrics(out);
    assert.equal(after.length, 4);
    assert.deepEqual(after.slice(0, before.length), before);
    assert.ok(existsSync(join(out, 'model.safetensors')));
    // and its first epoch is the one a single process trains (later epochs drift apart by
    // rounding, amplified by this no-batch-norm model's ReLU and max-pool boundaries)
    sauronOk([...args, '--epochs', '1', '--out', join(dir, 'one')]);
    const [single] = readMetrics(join(dir, 'one'));
    assert.ok(Math.abs(single!.loss - before[0]!.loss) < 1e-6);
    assert.equal(single!.testAccuracy, before[0]!.testAccuracy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
