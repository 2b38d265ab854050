// Nothing lost, nothing half-written: damaged checkpoints name the file and the way out, a
// second writer is refused while the first runs, and a sensitivity run that is killed, fails
// or fills the disk leaves the folder's earlier complete result whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { train } from '../../src/training/train.js';
import { DEFAULTS, type TrainConfig } from '../../src/training/config.js';
import { loadNpy, loadSafetensors } from '../../src/serialization/index.js';
import { lockPath, readOutputManifest, verifyOutputFile } from '../../src/serialization/outputDir.js';
import { ROOT, pauseAt } from '../support/helpers.js';
import { sauron, startSauron } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'sauron-outputs-'));
const tiny: TrainConfig = {
  ...DEFAULTS['fashion-mnist']!,
  method: 'standard',
  dataset: 'fashion-mnist',
  width: 0.125,
  epochs: 3,
  batchSize: 64,
  limit: 384,
  testLimit: 128,
  seed: 7,
  validation: { eps: 0.3, steps: 2, limit: 16 },
};

function weights(file: string): Float32Array {
  const { tensors } = loadSafetensors(file);
  const w = tensors.get('classifier.weight')!.toArray<'float32'>();
  for (const t of tensors.values()) t.dispose();
  return w;
}

/** The one error line (progress lines aside). */
function oneLine(stderr: string): string {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('(run with --help') && !/elapsed \d+:\d+/.test(l));
  assert.equal(lines.length, 1, stderr);
  return lines[0]!;
}

const ref = join(root, 'ref');
const part = join(root, 'part');

test('damaged checkpoints: each case names the file, says it is damaged and what to do', async () => {
  await train(tiny, { out: ref });
  await train(tiny, { out: part, stopAfterEpochs: 1 });
  const ck = (dir: string, f: string) => join(dir, 'checkpoint', f);
  const cases: [string, (dir: string) => void, RegExp][] = [
    ['empty optimizer state', (d) => writeFileSync(ck(d, 'optimizer.bin'), ''), /checkpoint\/optimizer\.bin is damaged \(/],
    ['truncated optimizer state', (d) => truncateSync(ck(d, 'optimizer.bin'), 100), /checkpoint\/optimizer\.bin is damaged \(/],
    [
      'garbage optimizer state',
      (d) => writeFileSync(ck(d, 'optimizer.bin'), 'not a zip archive at all'),
      /checkpoint\/optimizer\.bin is damaged \(/,
    ],
    ['broken state.json', (d) => writeFileSync(ck(d, 'state.json'), '{"epoch": 1, "st'), /checkpoint\/state\.json is damaged \(/],
    [
      'negative epoch',
      (d) => writeFileSync(ck(d, 'state.json'), '{"epoch": -5, "step": 6}'),
      /checkpoint\/state\.json is damaged \(epoch -5 is not a whole number of epochs from 0 to 3\)/,
    ],
    ['epoch past the run', (d) => writeFileSync(ck(d, 'state.json'), '{"epoch": 9, "step": 6}'), /state\.json is damaged \(epoch 9/],
    ['truncated weights', (d) => truncateSync(ck(d, 'weights.safetensors'), 40), /checkpoint\/weights\.safetensors is damaged \(/],
    [
      'metrics of another epoch count',
      (d) => writeFileSync(ck(d, 'metrics.jsonl'), ''),
      /checkpoint\/metrics\.jsonl is damaged \(0 epochs of metrics/,
    ],
  ];
  for (const [name, damage, re] of cases) {
    const d = join(root, `damaged-${name.replace(/\W+/g, '-')}`);
    cpSync(part, d, { recursive: true });
    damage(d);
    await assert.rejects(train(tiny, { out: d, resume: true }), (e: Error) => {
      assert.match(e.message, re, name);
      assert.match(e.message, /no earlier checkpoint is kept; start over with --force$/, name);
      return true;
    });
  }
  const cfg = join(root, 'damaged-config');
  cpSync(part, cfg, { recursive: true });
  writeFileSync(join(cfg, 'config.json'), '{ "method": ');
  await assert.rejects(
    train(tiny, { out: cfg, resume: true }),
    /config\.json is damaged \(.*\): the run's settings are lost; start over with --force/,
  );
  writeFileSync(join(cfg, 'config.json'), JSON.stringify({ ...tiny, epochs: -2 }));
  await assert.rejects(train(tiny, { out: cfg, resume: true }), /config\.json is damaged/);
  // the command line says it in one line
  const d = join(root, 'damaged-empty-optimizer-state');
  const r = sauron(['train', '--resume', d]);
  assert.notEqual(r.status, 0);
  assert.match(oneLine(r.stderr), /optimizer\.bin is damaged .* start over with --force/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});

test('a damaged checkpoint with the previous one beside it resumes from that one, to the same result', async () => {
  const d = join(root, 'fallback');
  cpSync(part, d, { recursive: true });
  // a swap cut short: the previous checkpoint is still there, the current one is damaged
  cpSync(join(d, 'checkpoint'), join(d, 'checkpoint.old'), { recursive: true });
  writeFileSync(join(d, 'checkpoint', 'optimizer.bin'), 'garbage');
  const lines: string[] = [];
  const r = await train(tiny, { out: d, resume: true, log: (l) => lines.push(l) });
  assert.ok(r.completed);
  assert.ok(
    lines.some((l) => /optimizer\.bin is damaged .*; resuming from the previous checkpoint in .*checkpoint\.old$/.test(l)),
    lines.join('\n'),
  );
  assert.deepEqual(weights(join(d, 'model.safetensors')), weights(join(ref, 'model.safetensors')));
});

test("sauron train --resume RUN_DIR (the folder as the option's value) finishes the run", () => {
  const d = join(root, 'resume-form');
  cpSync(part, d, { recursive: true });
  const r = sauron(['train', '--resume', d]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(weights(join(d, 'model.safetensors')), weights(join(ref, 'model.safetensors')));
  const bad = sauron(['train', '--resume', d, '--out', join(root, 'elsewhere')]);
  assert.match(oneLine(bad.stderr), /name different folders/);
  assert.match(oneLine(sauron(['train']).stderr), /--out RUN_DIR \(or --resume RUN_DIR/);
});

test('a second writer is refused while the first runs; once it is killed, --resume takes the folder over', async () => {
  const out = join(root, 'locked');
  const slow = ['--width', '0.125', '--epochs', '2', '--limit', '512', '--test-limit', '256', '--val-limit', '16'];
  // the first writer stops at the start of epoch 2 (epoch 1 checkpointed) until it is killed
  const pause = pauseAt('train epoch 2 batch 0', join(root, 'locked-pause'));
  const child = startSauron(['train', ...slow, '--out', out], { stdio: 'ignore', env: pause.env });
  try {
    await pause.reached(child);
    const lock = JSON.parse(readFileSync(lockPath(out), 'utf8'));
    assert.equal(lock.pid, child.pid);
    for (const args of [
      ['train', ...slow, '--force', '--out', out],
      ['sensitivity', '--model', ref, '--limit', '10', '--out', out],
    ]) {
      const r = sauron(args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(
        oneLine(r.stderr),
        new RegExp(
          `being written by another Sauron process \\(pid ${child.pid}: train standard, since .*\\); wait for it to finish or stop it`,
        ),
      );
    }
    assert.equal(child.exitCode, null, 'the first writer is still running');
    assert.ok(existsSync(join(out, 'checkpoint', 'state.json')), 'the first checkpoint');
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
  }
  assert.ok(existsSync(lockPath(out)), 'kill -9 leaves the lock behind');
  assert.ok(!existsSync(join(out, 'model.json')));
  const r = sauron(['train', '--resume', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /resuming .* after epoch 1 of 2/);
  assert.ok(existsSync(join(out, 'model.json')));
  assert.ok(!existsSync(lockPath(out)), 'released at the end');
});

test("lock files: an empty one being written is respected; an old empty or dead owner's one is taken over", async () => {
  const { lockOutput } = await import('../../src/serialization/outputDir.js');
  const { utimesSync } = await import('node:fs');
  const dir = join(root, 'lock-cases', 'out');
  mkdirSync(dirname(dir), { recursive: true });
  writeFileSync(lockPath(dir), '');
  assert.throws(() => lockOutput(dir, 'test'), /is being locked by another Sauron process; try again/);
  const old = new Date(Date.now() - 10000);
  utimesSync(lockPath(dir), old, old);
  const a = lockOutput(dir, 'test');
  assert.equal(JSON.parse(readFileSync(lockPath(dir), 'utf8')).pid, process.pid);
  const nested = lockOutput(dir, 'nested'); // the same process nests
  nested.release();
  assert.ok(existsSync(lockPath(dir)), 'the outer lock is still held');
  a.release();
  assert.ok(!existsSync(lockPath(dir)));
  // a dead owner (a pid no process has)
  writeFileSync(
    lockPath(dir),
    JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), command: 'x', started: 'then' }),
  );
  lockOutput(dir, 'test').release();
  assert.ok(!existsSync(lockPath(dir)));
});

function checkComplete(dir: string, limit: number): void {
  const m = readOutputManifest(dir)!;
  assert.ok(m, `${dir} has its manifest`);
  assert.equal((m.settings as { limit: number }).limit, limit);
  assert.deepEqual(
    readdirSync(dir)
      .filter((f) => f !== 'sauron-output.json')
      .sort(),
    m.files.map((f) => f.name).sort(),
  );
  for (const f of m.files) verifyOutputFile(dir, f.name);
  for (const f of ['labels.npy', 'predictions.npy']) assert.deepEqual(loadNpy(join(dir, f)).shape, [limit], f);
  for (const f of ['deltas.npy']) assert.equal(loadNpy(join(dir, f)).shape[1], limit, f);
  assert.equal(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')).count, limit);
}

test('sensitivity: kill -9 or a failure over an earlier result leaves that result whole; a re-run completes it identically', async () => {
  const out = join(root, 'sens');
  const sens = (limit: number, dir: string, ...extra: string[]) => [
    'sensitivity',
    '--model',
    ref,
    '--limit',
    String(limit),
    '--batch-size',
    '32',
    '--stats-split',
    'train+test',
    ...extra,
    '--out',
    dir,
  ];
  let r = sauron(sens(200, out));
  assert.equal(r.status, 0, r.stderr);
  checkComplete(out, 200);
  // kill -9 once the new run has written its arrays, before its manifest and the swap
  const pause = pauseAt('output sensitivity written', join(root, 'sens-pause'));
  const child = startSauron(sens(3000, out), { stdio: 'ignore', env: pause.env });
  const staging = join(dirname(out), '.sens.staging');
  await pause.reached(child);
  assert.ok(existsSync(join(staging, 'deltas.npy')), 'the new run wrote its arrays');
  child.kill('SIGKILL');
  const code = await new Promise((res) => child.on('exit', (c, s) => res(s ?? c)));
  assert.equal(code, 'SIGKILL', 'killed before it finished');
  checkComplete(out, 200);
  // a failure after the main model's arrays were written (a --compare model that is not there)
  r = sauron(sens(3000, out, '--compare', join(root, 'no-such-run')));
  assert.notEqual(r.status, 0);
  checkComplete(out, 200);
  assert.ok(!existsSync(staging), 'a failed run removes its staging folder');
  // the re-run completes, identical to an uninterrupted run elsewhere
  r = sauron(sens(3000, out));
  assert.equal(r.status, 0, r.stderr);
  checkComplete(out, 3000);
  const other = join(root, 'sens-clean');
  assert.equal(sauron(sens(3000, other)).status, 0);
  for (const f of ['deltas.npy', 'features.npy', 'ranking.npy', 'feature_mean.npy', 'feature_std.npy']) {
    assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(other, f))), f);
  }
  // reading a complete folder checks each file against the manifest
  const { readSensitivitySummary, readFeatureStats } = await import('../../src/analysis/sensitivityFiles.js');
  assert.equal(readSensitivitySummary(out).count, 3000);
  writeFileSync(join(out, 'feature_std.npy'), readFileSync(join(out, 'feature_std.npy')).subarray(0, 100));
  assert.throws(() => readFeatureStats(out), /feature_std\.npy is damaged: 100 bytes where \d+ were written; run the command again/);
  assert.throws(() => verifyOutputFile(out, 'feature_std.npy'), /feature_std\.npy is damaged/);
  // a folder holding something else is never swapped away
  const run = join(root, 'not-mine');
  cpSync(ref, run, { recursive: true });
  r = sauron(sens(10, run));
  assert.match(oneLine(r.stderr), /holds files that no `sauron sensitivity` wrote/);
  assert.ok(existsSync(join(run, 'model.json')));
});

test('a full disk: the earlier result stays whole and the error names the disk', {
  skip: process.getuid?.() !== 0 && 'needs root to mount a tmpfs',
}, (t) => {
  const disk = join(root, 'disk');
  mkdirSync(disk);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=600k', 'tmpfs', disk], { encoding: 'utf8' });
  if (m.status !== 0) {
    // containers without the capability: reported as skipped, not passed
    t.skip(`cannot mount a tmpfs (${m.stderr.trim()})`);
    return;
  }
  try {
    const out = join(disk, 'sens');
    let r = sauron(['sensitivity', '--model', ref, '--limit', '100', '--stats-split', 'test', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    checkComplete(out, 100);
    r = sauron(['sensitivity', '--model', ref, '--limit', '4000', '--stats-split', 'test', '--out', out]);
    assert.notEqual(r.status, 0);
    assert.match(
      oneLine(r.stderr),
      new RegExp(`no space left on the disk holding ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*earlier result is untouched`),
    );
    checkComplete(out, 100);
  } finally {
    spawnSync('umount', [disk]);
  }
});

test('train --force over a finished run: killed, the finished run stays whole; --resume finishes the new one', async () => {
  const out = join(root, 'force');
  cpSync(ref, out, { recursive: true });
  const before = weights(join(out, 'model.safetensors'));
  const slow = ['--width', '0.125', '--epochs', '2', '--limit', '512', '--test-limit', '256', '--val-limit', '16', '--seed', '8'];
  // the new run stops at the start of its epoch 2 (epoch 1 checkpointed in its staging folder)
  const pause = pauseAt('train epoch 2 batch 0', join(root, 'force-pause'));
  const child = startSauron(['train', ...slow, '--force', '--out', out], { stdio: 'ignore', env: pause.env });
  await pause.reached(child);
  assert.ok(existsSync(join(dirname(out), '.force.staging', 'checkpoint', 'state.json')), "the new run's first checkpoint");
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  assert.deepEqual(weights(join(out, 'model.safetensors')), before, 'the finished run is untouched');
  assert.equal(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).training.seed, 7);
  const r = sauron(['train', '--resume', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).training.seed, 8);
  assert.ok(!existsSync(join(dirname(out), '.force.staging')));
  const clean = join(root, 'force-clean');
  assert.equal(sauron(['train', ...slow, '--out', clean]).status, 0);
  assert.deepEqual(weights(join(out, 'model.safetensors')), weights(join(clean, 'model.safetensors')));
});

test('a reproduce step killed over its earlier result leaves that result; the re-run completes it', async () => {
  const out = join(root, 'repro');
  const child = (env: Record<string, string>, ...only: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'processes', 'reproduceChild.ts'), out, ...only], {
      cwd: ROOT,
      stdio: 'ignore',
      env: { ...process.env, ...env },
    });
  const finish = (c: ReturnType<typeof child>) =>
    new Promise<number | string | null>((res) => c.on('exit', (code, sig) => res(sig ?? code)));
  assert.equal(await finish(child({})), 0);
  const sens = join(out, 'sensitivity', 'standard');
  checkComplete(sens, 48);
  rmSync(join(out, 'steps', 'sensitivity-standard.json'));
  const pause = pauseAt('output sensitivity written', join(root, 'repro-pause'));
  const c = child({ SENS_LIMIT: '3000', ...pause.env }, 'sensitivity-standard');
  await pause.reached(c);
  assert.ok(existsSync(join(out, 'sensitivity', '.standard.staging', 'deltas.npy')), 'the step wrote its arrays');
  c.kill('SIGKILL');
  assert.equal(await finish(c), 'SIGKILL');
  checkComplete(sens, 48);
  assert.equal(await finish(child({ SENS_LIMIT: '3000' })), 0);
  checkComplete(sens, 3000);
  assert.ok(existsSync(join(out, 'report.md')));
});

test('an attack killed mid-run resumes to the same files as an uninterrupted one', async () => {
  const args = (out: string) => [
    'attack',
    '--model',
    ref,
    '--attack',
    'pgd',
    '--norm',
    'l2',
    '--eps',
    '0.3',
    '--iterations',
    '20',
    '--restarts',
    '3',
    '--limit',
    '600',
    '--batch-size',
    '16',
    '--out',
    out,
  ];
  const clean = join(root, 'atk-clean');
  assert.equal(sauron(args(clean)).status, 0);
  const out = join(root, 'atk');
  const pause = pauseAt('attack batch 2 recorded', join(root, 'atk-pause'));
  const child = startSauron(args(out), { stdio: 'ignore', env: pause.env });
  await pause.reached(child);
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  assert.ok(!existsSync(join(out, 'results.json')), 'killed before it finished');
  assert.match(oneLine(sauron(args(out)).stderr), /holds another attack's results: pass --resume/);
  const r = sauron([...args(out), '--resume']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(out, 'samples.csv'), 'utf8'), readFileSync(join(clean, 'samples.csv'), 'utf8'));
  const res = (d: string) => ({ ...JSON.parse(readFileSync(join(d, 'results.json'), 'utf8')), seconds: 0 });
  assert.deepEqual(res(out), res(clean));
});

test.after(() => rmSync(root, { recursive: true, force: true }));
