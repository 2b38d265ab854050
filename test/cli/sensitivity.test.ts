// `sauron sensitivity` end to end on a trained model: files, layouts, the defining
// property of Delta on the model's own classifier, figures, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../../src/training/train.js';
import { DEFAULTS } from '../../src/training/config.js';
import { delta } from '../../src/analysis/delta.js';
import { loadModel, scope, saveModel, createModel } from '../../src/index.js';
import { tensor } from '../../src/tensor/index.js';
import { loadNpy } from '../../src/serialization/index.js';
import { sauron } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'sauron-sens-'));
const run = join(root, 'run');
const out = join(root, 'sens');

test('sensitivity on a trained model writes every array in the reference layout, summaries and figures', async () => {
  await train(
    {
      ...DEFAULTS['fashion-mnist']!,
      method: 'standard',
      dataset: 'fashion-mnist',
      width: 0.125,
      epochs: 2,
      batchSize: 64,
      limit: 1024,
      testLimit: 256,
      seed: 3,
    },
    { out: run },
  );
  const r = sauron(['sensitivity', '--model', run, '--limit', '96', '--stats-split', 'test', '--batch-size', '40', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.equal(printed.count, 96);
  const f = printed.featureDim;
  assert.equal(f, 32);
  scope(() => {
    const d = loadNpy(join(out, 'deltas.npy'));
    const z = loadNpy(join(out, 'features.npy'));
    const l = loadNpy(join(out, 'logits.npy'));
    assert.deepEqual(d.shape, [f, 96]);
    assert.equal(d.dtype, 'float32');
    assert.deepEqual(z.shape, [96, f]);
    assert.deepEqual(l.shape, [96, 10]);
    assert.deepEqual(loadNpy(join(out, 'labels.npy')).shape, [96]);
    const pred = loadNpy(join(out, 'predictions.npy'));
    assert.equal(pred.dtype, 'int64');
    assert.deepEqual(pred.toNumbers(), l.argmax(1).toNumbers());
    assert.deepEqual(loadNpy(join(out, 'feature_mean.npy')).shape, [f]);
    assert.deepEqual(loadNpy(join(out, 'feature_std.npy')).shape, [f]);
    const ranking = loadNpy(join(out, 'ranking.npy'));
    assert.deepEqual(ranking.shape, [96, f]);

    // the streamed file equals the closed form recomputed from the saved logits and features
    const { model } = loadModel(run);
    try {
      const w = model.classifier.weight;
      const b = model.classifier.bias!;
      const again = delta(l, z, w);
      assert.deepEqual(again.toArray(), d.toArray());
      // property on the trained model: z_i + Delta flips the prediction (past the tie), 0.99 Delta does not
      const da = d.toArray<'float32'>();
      let checked = 0;
      for (let x = 0; x < 96; x += 7) {
        for (let i = 0; i < f; i++) {
          const D = da[i * 96 + x]!;
          if (!Number.isFinite(D)) continue;
          const predict = (amount: number) => {
            const zx = z.narrow(0, x, 1).clone();
            zx.indexPut_([tensor([0], { dtype: 'int64' }), tensor([i], { dtype: 'int64' })], tensor([amount]), true);
            return zx.matmul(w.t()).add(b).argmax(1).item();
          };
          const y = predict(0);
          assert.equal(predict(0.99 * D), y, `input ${x} neuron ${i}`);
          assert.notEqual(predict(1.001 * D + Math.sign(D) * 1e-6), y, `input ${x} neuron ${i}`);
          checked++;
        }
      }
      assert.ok(checked > 50, `checked ${checked}`);
    } finally {
      model.dispose();
    }
  });
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.neurons.length, f);
  assert.equal(summary.mostSensitive.length, f);
  assert.deepEqual(
    [...summary.mostSensitive].sort((a: number, b: number) => a - b),
    Array.from({ length: f }, (_, i) => i),
  );
  assert.equal(
    summary.neurons.reduce((a: number, n: { topKCount: number }) => a + n.topKCount, 0),
    96 * 16,
  );
  for (const n of summary.neurons) assert.ok(n.zeroRate >= 0 && n.zeroRate <= 1 && n.infRate >= 0 && n.infRate <= 1);
  for (const fig of ['delta-kde', 'activations']) {
    const png = readFileSync(join(out, `${fig}.png`));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${fig}.png is a PNG`);
    assert.ok(statSync(join(out, `${fig}.png`)).size > 5000, `${fig}.png is not trivial`);
    const svg = readFileSync(join(out, `${fig}.svg`), 'utf8');
    assert.match(svg, /<svg[\s>]/);
    assert.ok(!svg.includes('NaN'));
  }
});

test('--compare overlays another model in the figures', () => {
  const r = sauron(['sensitivity', '--model', run, '--compare', run, '--limit', '32', '--stats-split', 'test', '--out', join(root, 'cmp')]);
  assert.equal(r.status, 0, r.stderr);
  const svg = readFileSync(join(root, 'cmp', 'delta-kde.svg'), 'utf8');
  assert.ok(existsSync(join(root, 'cmp', 'activations.png')));
  assert.equal(JSON.parse(readFileSync(join(root, 'cmp', 'summary.json'), 'utf8')).compare.length, 1);
  assert.ok(svg.length > 1000);
});

test('bad input: --limit 0 or negative, a data set that does not fit the model, --top-k too large', () => {
  const cifarRun = join(root, 'cifar-like');
  const m = createModel({ arch: 'vgg11', inputShape: [3, 32, 32], numClasses: 10, width: 0.0625 });
  saveModel(cifarRun, m, { dataset: 'cifar10' });
  m.dispose();
  const cases: [string[], RegExp][] = [
    [['sensitivity', '--model', run, '--limit', '0', '--out', join(root, 'x')], /--limit must be a positive integer/],
    [['sensitivity', '--model', run, '--limit', '-5', '--out', join(root, 'x')], /--limit must be a positive integer/],
    [
      ['sensitivity', '--model', cifarRun, '--dataset', 'fashion-mnist', '--limit', '4', '--out', join(root, 'x')],
      /the model expects 3x32x32 images, fashion-mnist test has 1x28x28/,
    ],
    [
      ['sensitivity', '--model', run, '--top-k', '999', '--limit', '4', '--stats-split', 'test', '--out', join(root, 'x')],
      /top-k must be an integer in 1\.\.32/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = sauron(args);
    assert.notEqual(r.status, 0, args.join(' '));
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('(run with --help') && !/^\S+: (statistics|deltas)/.test(l));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, re);
  }
});

test.after(() => rmSync(root, { recursive: true, force: true }));
