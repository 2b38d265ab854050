// Training methods and pruning, end to end on tiny configurations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, scope } from '../../src/index.js';
import { pruneOrder } from '../../src/analysis/prune.js';
import { sauron } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'sauron-methods-'));
const tiny = [
  '--width',
  '0.125',
  '--epochs',
  '1',
  '--batch-size',
  '64',
  '--limit',
  '256',
  '--test-limit',
  '64',
  '--val-limit',
  '32',
  '--val-steps',
  '3',
];

test('--method pgd and --method sensitivity train, log the validation PGD rate and record their settings', () => {
  for (const [method, extra] of [
    ['pgd', ['--norm', 'linf', '--eps', '8/255', '--attack-steps', '2']],
    ['sensitivity', ['--top-k', '8', '--delta1', '1', '--delta2', '10']],
  ] as const) {
    const out = join(root, method);
    const r = sauron(['train', '--method', method, ...extra, ...tiny, '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const m = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    assert.equal(m.method, method);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim());
    assert.ok(metrics.pgdSuccessRate >= 0 && metrics.pgdSuccessRate <= 1);
    assert.ok(metrics.trainSeconds > 0);
    if (method === 'pgd') assert.deepEqual(m.training.adversarial, { norm: 'linf', eps: 8 / 255, steps: 2 });
    else assert.deepEqual(m.training.regularizer, { topK: 8, delta1: 1, delta2: 10 });
  }
});

test('sauron prune: zeroed columns, one curve row per order and count, and the figure', () => {
  const run = join(root, 'pgd');
  const out = join(root, 'pruned');
  const r = sauron([
    'prune',
    '--model',
    run,
    '--order',
    'most',
    '--count',
    '5',
    '--curve',
    '0,4,16',
    '--limit',
    '64',
    '--attack-limit',
    '8',
    '--attack-steps',
    '2',
    '--out',
    out,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  assert.equal(info.pruning.features.length, 5);
  const { model } = loadModel(out);
  try {
    scope(() => {
      const w = model.classifier.weight;
      const cols = w.abs().sum(0).toNumbers();
      for (const j of info.pruning.features) assert.equal(cols[j], 0);
      assert.equal(cols.filter((v) => v === 0).length, 5);
    });
  } finally {
    model.dispose();
  }
  const csv = readFileSync(join(out, 'pruning.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'order,count,accuracy,pgd_success_rate');
  assert.equal(csv.length, 1 + 3 * 3);
  const zero = csv
    .slice(1)
    .filter((l) => l.split(',')[1] === '0')
    .map((l) => l.split(',')[2]);
  assert.equal(new Set(zero).size, 1, 'count 0 is the unpruned model for every order');
  assert.ok(readFileSync(join(out, 'pruning.png')).length > 5000);
  assert.match(readFileSync(join(out, 'pruning.svg'), 'utf8'), /most sensitive first/);
});

test('pruning orders: most and least are reverses, random is a seeded permutation', () => {
  const ranking = [3, 1, 0, 2];
  assert.deepEqual(pruneOrder('most', ranking, 4), [3, 1, 0, 2]);
  assert.deepEqual(pruneOrder('least', ranking, 4), [2, 0, 1, 3]);
  assert.deepEqual(pruneOrder('random', ranking, 4, 5), pruneOrder('random', ranking, 4, 5));
  assert.deepEqual([...pruneOrder('random', ranking, 4, 5)].sort(), [0, 1, 2, 3]);
  assert.throws(() => pruneOrder('most', [0, 1], 4), /lists 2 features, the model has 4/);
});

test('bad input: count above the feature count, unknown order, negative deltas, top-k above the feature count', () => {
  const run = join(root, 'pgd');
  const cases: [string[], RegExp][] = [
    [['prune', '--model', run, '--order', 'most', '--count', '999', '--out', join(root, 'x')], /--count must be an integer in 0\.\.32/],
    [['prune', '--model', run, '--order', 'middle', '--count', '1', '--out', join(root, 'x')], /argument 'middle' is invalid/],
    [['train', '--method', 'sensitivity', '--delta1', '-1', '--out', join(root, 'y')], /--delta1 must be a non-negative number/],
    [
      ['train', '--method', 'sensitivity', '--top-k', '64', ...tiny, '--out', join(root, 'z')],
      /--top-k 64 is larger than the model's 32 features/,
    ],
    [['train', '--method', 'standard', '--eps', '1', '--out', join(root, 'w')], /apply to --method pgd only/],
  ];
  for (const [args, re] of cases) {
    const r = sauron(args);
    assert.notEqual(r.status, 0, args.join(' '));
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('(run with --help'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, re);
  }
});

test.after(() => rmSync(root, { recursive: true, force: true }));
