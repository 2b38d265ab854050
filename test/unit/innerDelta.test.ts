// Delta of inner-layer neurons, found numerically: agrees with the closed form at the
// penultimate layer, and its defining property holds at an inner layer.
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { createModel, Generator, scope, noGrad, saveModel } from '../../src/index.js';
import { rand, tensor, arange } from '../../src/tensor/index.js';
import { loadNpy } from '../../src/serialization/index.js';
import { delta } from '../../src/analysis/delta.js';
import { innerDelta } from '../../src/analysis/innerDelta.js';
import { sauron } from '../support/cli.js';

function model() {
  const m = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.125 }, { generator: new Generator(8) });
  m.train();
  scope(() => noGrad(() => m.forward(rand([16, 1, 28, 28], { generator: new Generator(9) }))));
  m.eval();
  return m;
}

test('at the penultimate layer the numeric search finds the closed-form Delta', () => {
  const m = model();
  try {
    scope(() => {
      const x = rand([5, 1, 28, 28], { generator: new Generator(10) });
      const { logits, features } = noGrad(() => m.forward(x));
      const closed = delta(logits, features, m.classifier.weight).toArray<'float32'>();
      const { deltas } = innerDelta(m, x, 'penultimate', { range: 1e7 });
      let finite = 0;
      for (let k = 0; k < closed.length; k++) {
        const c = closed[k]!;
        const v = deltas[k]!;
        assert.equal(Number.isFinite(v), Number.isFinite(c), `entry ${k}: numeric ${v}, closed form ${c}`);
        if (Number.isFinite(c)) {
          finite++;
          assert.ok(Math.abs(v - c) <= 1e-4 * Math.max(Math.abs(c), 1e-3), `entry ${k}: numeric ${v}, closed form ${c}`);
        }
      }
      assert.ok(finite > 50, `finite entries compared: ${finite}`);
    });
  } finally {
    m.dispose();
  }
});

test('at an inner layer, just past Delta the prediction flips and 0.99 * Delta does not; ReLU units stay >= 0', () => {
  const m = model();
  try {
    scope(() => {
      const x = rand([3, 1, 28, 28], { generator: new Generator(11) });
      const layer = 'features.9'; // the first ReLU of the second conv stage
      const split = m.splitAt(layer);
      assert.equal(split.nonNegative, true);
      const units = [0, 17, 123, 301, 777];
      const { deltas } = innerDelta(m, x, layer, { units });
      const a0 = noGrad(() => split.head(x));
      const flat = a0.flatten(1);
      const pred0 = noGrad(() => split.tail(a0))
        .argmax(1)
        .toNumbers();
      const predWith = (b: number, u: number, amount: number) =>
        noGrad(() => {
          const row = flat.narrow(0, b, 1).clone();
          row.indexPut_([arange(1), tensor([u], { dtype: 'int64' })], tensor([amount]), true);
          return split
            .tail(row.view([1, ...a0.shape.slice(1)]))
            .argmax(1)
            .item();
        });
      let checked = 0;
      units.forEach((u, k) => {
        for (let b = 0; b < 3; b++) {
          const d = deltas[k * 3 + b]!;
          if (!Number.isFinite(d)) continue;
          checked++;
          assert.ok(flat.toArray<'float32'>()[b * flat.shape[1]! + u]! + d >= -1e-6);
          assert.notEqual(predWith(b, u, 1.001 * d), pred0[b]); // just past the boundary: batch composition moves it by float noise
          assert.equal(predWith(b, u, 0.99 * d), pred0[b]);
        }
      });
      assert.ok(checked >= 3, `checked ${checked}`);
      assert.throws(() => innerDelta(m, x, 'features.99'), /has no layer 'features\.99'/);
      assert.throws(() => innerDelta(m, x, layer, { units: [1e9] }), /outside/);
    });
  } finally {
    m.dispose();
  }
});

test('sauron sensitivity --layer writes inner-deltas.npy [units, inputs] across batches', () => {
  const root = mkdtempSync(join(tmpdir(), 'sauron-inner-'));
  const m = model();
  try {
    saveModel(join(root, 'run'), m, { dataset: 'fashion-mnist' });
    const r = sauron([
      'sensitivity',
      '--model',
      join(root, 'run'),
      '--layer',
      'features.9',
      '--units',
      '0-9',
      '--limit',
      '5',
      '--batch-size',
      '2',
      '--out',
      join(root, 'o'),
    ]);
    assert.equal(r.status, 0, r.stderr);
    scope(() => {
      const d = loadNpy(join(root, 'o', 'inner-deltas.npy'));
      assert.deepEqual(d.shape, [10, 5]);
      assert.deepEqual(loadNpy(join(root, 'o', 'inner-units.npy')).toNumbers(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  } finally {
    m.dispose();
    rmSync(root, { recursive: true, force: true });
  }
});
