// `sensitivity`, `attack` and `eval` as several ranks: the ranks take turns at the batches and
// rank 0 writes; every file must be the single process's, byte for byte (run-specific
// timings and the manifest's command line aside), whatever the number of ranks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pauseAt } from '../support/helpers.js';
import { native } from '../../src/native.js';
import { sauron, sauronOk, startSauron } from '../support/cli.js';

const skip = !native.hasGloo && 'the addon was built without Gloo (install libgloo-dev and run npm ci)';
let dir = '';
let model = '';

function launched(n: number, args: string[]) {
  return sauronOk(['launch', '--nproc', String(n), '--', ...args]);
}

/** Asserts two output folders hold the same files with the same bytes, except `loose` (compared by `same`). */
function sameFolders(a: string, b: string, loose: Record<string, (x: string, y: string) => void> = {}): void {
  const names = readdirSync(a)
    .filter((f) => !f.startsWith('.'))
    .sort();
  assert.deepEqual(
    readdirSync(b)
      .filter((f) => !f.startsWith('.'))
      .sort(),
    names,
  );
  assert.ok(names.length > 3, names.join(', '));
  for (const f of names) {
    const x = readFileSync(join(a, f));
    const y = readFileSync(join(b, f));
    if (loose[f]) loose[f]!(x.toString('utf8'), y.toString('utf8'));
    else assert.ok(x.equals(y), `${f} differs`);
  }
}

/** results.json without the run's wall-clock seconds. */
function untimed(text: string): unknown {
  const r = JSON.parse(text);
  delete r.seconds;
  return r;
}

/** progress.jsonl's records by batch, without timings (ranks finish batches in any order). */
function progressRecords(text: string): unknown {
  const by = new Map<number, unknown>();
  for (const line of text.split('\n').filter(Boolean)) {
    const e = JSON.parse(line);
    by.set(e.batch, e.records);
  }
  return [...by.entries()].sort(([x], [y]) => x - y);
}

const manifestFiles = (x: string, y: string) => assert.deepEqual(JSON.parse(x).files, JSON.parse(y).files);

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'sauron-shard-'));
  model = join(dir, 'model');
  sauronOk(['train', '--limit', '512', '--test-limit', '128', '--epochs', '1', '--val-limit', '0', '--out', model]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("sensitivity on 2 and 3 ranks writes the single process's files byte for byte", { skip }, () => {
  const args = ['sensitivity', '--model', model, '--limit', '300', '--batch-size', '64', '--stats-split', 'test'];
  sauronOk([...args, '--out', join(dir, 's1')]);
  for (const n of [2, 3]) {
    const r = launched(n, [...args, '--out', join(dir, `s${n}`)]);
    assert.match(r.stdout, /\[rank 0\] \{"out"/);
    sameFolders(join(dir, 's1'), join(dir, `s${n}`), { 'sauron-output.json': manifestFiles });
  }
});

test("PGD (restarts, examples) and k-NS on 3 ranks: samples.csv, examples and results equal one process's", { skip }, () => {
  const common = ['attack', '--model', model, '--limit', '150', '--batch-size', '32', '--norm', 'l2', '--eps', '0.5', '--iterations', '10'];
  const loose = {
    'results.json': (x: string, y: string) => assert.deepEqual(untimed(y), untimed(x)),
    'progress.jsonl': (x: string, y: string) => assert.deepEqual(progressRecords(y), progressRecords(x)),
  };
  for (const [name, extra] of [
    ['pgd', ['--restarts', '3', '--save-examples']],
    ['kns', ['--attack', 'kns', '--neurons', '1,4', '--stats-split', 'test']],
  ] as const) {
    sauronOk([...common, ...extra, '--out', join(dir, `${name}-1`)]);
    launched(3, [...common, ...extra, '--out', join(dir, `${name}-3`)]);
    sameFolders(join(dir, `${name}-1`), join(dir, `${name}-3`), loose);
    const rows =
      readFileSync(join(dir, `${name}-1`, 'samples.csv'), 'utf8')
        .trim()
        .split('\n').length - 1;
    assert.equal(rows, name === 'pgd' ? 150 : 600);
  }
});

test('an attack killed on one process resumes on 2 ranks to the uninterrupted result', { skip }, async () => {
  const args = [
    'attack',
    '--model',
    model,
    '--limit',
    '320',
    '--batch-size',
    '16',
    '--norm',
    'linf',
    '--eps',
    '0.05',
    '--iterations',
    '40',
    '--restarts',
    '2',
  ];
  const out = join(dir, 'resumed');
  const pause = pauseAt('attack batch 2 recorded', join(dir, 'resumed-pause'));
  const child = startSauron([...args, '--out', out], { env: pause.env });
  const exited = new Promise((r) => child.on('exit', r));
  await pause.reached(child);
  child.kill('SIGKILL');
  await exited;
  const partial = readFileSync(join(out, 'progress.jsonl'), 'utf8').split('\n').filter(Boolean).length;
  assert.equal(partial, 3, 'batches 0-2 were done before the kill');
  launched(2, [...args, '--out', out, '--resume']);
  sauronOk([...args, '--out', join(dir, 'whole')]);
  assert.equal(readFileSync(join(out, 'samples.csv'), 'utf8'), readFileSync(join(dir, 'whole', 'samples.csv'), 'utf8'));
  assert.deepEqual(
    untimed(readFileSync(join(out, 'results.json'), 'utf8')),
    untimed(readFileSync(join(dir, 'whole', 'results.json'), 'utf8')),
  );
});

test("eval on 3 ranks reports and writes exactly one process's eval.json; --inputs refuses several ranks", { skip }, () => {
  const args = ['eval', '--model', model, '--limit', '1000', '--batch-size', '64'];
  sauronOk([...args, '--out', join(dir, 'e1')]);
  launched(3, [...args, '--out', join(dir, 'e3')]);
  assert.equal(readFileSync(join(dir, 'e3', 'eval.json'), 'utf8'), readFileSync(join(dir, 'e1', 'eval.json'), 'utf8'));
  const r = sauron(['launch', '--nproc', '2', '--', 'eval', '--model', model, '--inputs', 'x.npy']);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /--inputs runs in one process/);
});
