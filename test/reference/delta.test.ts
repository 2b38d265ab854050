// Delta(i, x) against the reference algorithm (fixture) and by its defining property.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { delta } from '../../src/analysis/delta.js';
import { scope, Generator, type Tensor } from '../../src/index.js';
import { tensor, randn } from '../../src/tensor/index.js';
import { loadSafetensors } from '../../src/serialization/index.js';
import { ROOT } from '../support/helpers.js';

test('matches the reference per-neuron loop: identical inf positions, finite values within 1e-5 relative', () => {
  const { tensors } = loadSafetensors(join(ROOT, 'fixtures', 'sensitivity.safetensors'));
  scope(() => {
    for (const chunk of [1000, 7]) {
      const d = delta(tensors.get('logits')!, tensors.get('features')!, tensors.get('weight')!, { chunk });
      const ref = tensors.get('deltas')!;
      assert.deepEqual(d.shape, ref.shape);
      const a = d.toArray<'float32'>();
      const b = ref.toArray<'float32'>();
      let infs = 0;
      for (let k = 0; k < a.length; k++) {
        assert.equal(Number.isFinite(a[k]!), Number.isFinite(b[k]!), `entry ${k}: ${a[k]} vs ${b[k]}`);
        if (!Number.isFinite(b[k]!)) {
          assert.equal(a[k], b[k]);
          infs++;
        } else {
          assert.ok(Math.abs(a[k]! - b[k]!) <= 1e-5 * Math.max(Math.abs(b[k]!), 1e-6), `entry ${k}: ${a[k]} vs ${b[k]}`);
        }
      }
      assert.ok(infs > 0, 'the fixture exercises +inf');
    }
  });
  for (const t of tensors.values()) t.dispose();
});

/** Logits after adding `amount` to feature i of input n, through the classifier. */
function perturbedPrediction(z: Float32Array, w: Float32Array, b: Float32Array, f: number, c: number, i: number, amount: number): number {
  let best = -Infinity;
  let arg = -1;
  for (let k = 0; k < c; k++) {
    let s = b[k]!;
    for (let j = 0; j < f; j++) s += w[k * f + j]! * (z[j]! + (j === i ? amount : 0));
    if (s > best) {
      best = s;
      arg = k;
    }
  }
  return arg;
}

test('property: adding Delta flips the prediction, 0.99 * Delta does not; Delta is the smallest valid candidate', () => {
  scope(() => {
    const g = new Generator(5);
    const n = 40;
    const f = 16;
    const c = 6;
    const z = randn([n, f], { generator: g }).mul(2).relu();
    const w = randn([c, f], { generator: g });
    const b = randn([c], { generator: g });
    const logits = z.matmul(w.t()).add(b);
    const d = delta(logits, z, w).toArray<'float32'>();
    const za = z.toArray<'float32'>();
    const wa = w.toArray<'float32'>();
    const ba = b.toArray<'float32'>();
    const la = logits.toArray<'float32'>();
    let finite = 0;
    for (let x = 0; x < n; x++) {
      const zx = za.slice(x * f, (x + 1) * f);
      const lx = la.slice(x * c, (x + 1) * c);
      const y = perturbedPrediction(zx, wa, ba, f, c, 0, 0);
      for (let i = 0; i < f; i++) {
        const D = d[i * n + x]!;
        // candidates, recomputed here in float64
        const cands: number[] = [];
        for (let k = 0; k < c; k++) {
          if (k === y) continue;
          const v = (lx[y]! - lx[k]!) / (wa[k * f + i]! - wa[y * f + i]!);
          if (Number.isFinite(v) && zx[i]! + v >= 0) cands.push(v);
        }
        if (!Number.isFinite(D)) {
          assert.equal(D, Infinity);
          assert.equal(cands.length, 0, `input ${x} neuron ${i}: inf although a valid candidate exists`);
          continue;
        }
        finite++;
        assert.ok(zx[i]! + D >= -1e-6, 'the neuron stays in the ReLU range');
        const smallest = Math.min(...cands.map(Math.abs));
        assert.ok(Math.abs(Math.abs(D) - smallest) <= 1e-4 * Math.max(smallest, 1), 'smallest valid |candidate|');
        assert.equal(perturbedPrediction(zx, wa, ba, f, c, i, 0.99 * D), y, '0.99 Delta keeps the prediction');
        assert.notEqual(perturbedPrediction(zx, wa, ba, f, c, i, 1.01 * D), y, 'Delta (just past the tie) flips it');
      }
    }
    assert.ok(finite > n * f * 0.3, `enough finite deltas checked (${finite})`);
  });
});

test('bad shapes are rejected with a clear message', () => {
  scope(() => {
    const l = tensor([[1, 2]]);
    const z = tensor([[1, 2, 3]]);
    assert.throws(
      () =>
        delta(
          l,
          z,
          tensor([
            [1, 2],
            [3, 4],
          ]),
        ),
      /features \[1, 3\] do not match 1 inputs x 2 features/,
    );
    assert.throws(() => delta(l, z, tensor([[1, 2, 3]])), /logits have 2 classes, the classifier weight 1/);
    const t: Tensor = tensor([1]);
    assert.throws(() => delta(t, z, tensor([[1, 2, 3]])), /must be 2-d/);
  });
});
