// The sensitivity regularizer against the reference's loop form (fixture), on hand-made
// cases with closed-form values, and for bad inputs and leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sensitivityRegularizer, sensitivityT1, sensitivityT2 } from '../../src/training/sensitivityRegularizer.js';
import { scope, Generator, type Tensor } from '../../src/index.js';
import { liveTensors, randn, tensor } from '../../src/tensor/index.js';
import { loadSafetensors } from '../../src/serialization/index.js';
import { ROOT, relErr } from '../support/helpers.js';

const leaf = (t: Tensor): Tensor => t.detach().requiresGrad_();
const long = (xs: number[]): Tensor => tensor(xs, { dtype: 'int64' });

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.abs(expected), `${what}: ${actual} vs ${expected}`);
}

test('matches the reference loops (fixture): T1, T2 and both gradients within 1e-5 relative, k = 16 and 5', () => {
  const { tensors, metadata } = loadSafetensors(join(ROOT, 'fixtures', 'regularizer.safetensors'));
  const meta = JSON.parse(metadata.json!);
  const fx = (name: string): Tensor => tensors.get(name)!;
  scope(() => {
    for (const k of [16, 5]) {
      const z = leaf(fx('features'));
      const w = leaf(fx('weight'));
      const r = sensitivityRegularizer(z, w, fx('labels'), { topK: k, delta1: meta.delta1, delta2: meta.delta2 });
      r.total.backward();
      assertClose(r.t1.item(), fx(`t1_k${k}`).item(), `T1 k=${k}`);
      assertClose(r.t2.item(), fx(`t2_k${k}`).item(), `T2 k=${k}`);
      assertClose(r.total.item(), meta.delta1 * fx(`t1_k${k}`).item() + meta.delta2 * fx(`t2_k${k}`).item(), `total k=${k}`);
      const gw = w.grad!;
      const gz = z.grad!;
      assert.ok(relErr(gw, fx(`grad_weight_k${k}`)) <= 1e-5, `d/dW k=${k}: ${relErr(gw, fx(`grad_weight_k${k}`))}`);
      assert.ok(relErr(gz, fx(`grad_features_k${k}`)) <= 1e-5, `d/dz k=${k}: ${relErr(gz, fx(`grad_features_k${k}`))}`);
      // the all-zero input: no NaN anywhere, and it pushes nothing
      assert.ok(gz.toNumbers().every(Number.isFinite) && gw.toNumbers().every(Number.isFinite), 'finite gradients');
      assert.deepEqual(gz.select(0, meta.zero_input).toNumbers(), new Array(meta.f).fill(0));
    }
  });
  for (const t of tensors.values()) t.dispose();
});

test('closed forms on tiny inputs', () => {
  scope(() => {
    // C = 2, F = 3: |W0 - W1| = [1, 3, 2]
    const w2 = tensor([
      [1, 2, 3],
      [0, 5, 1],
    ]);
    assert.equal(sensitivityT1(w2, 1).item(), 3);
    assert.equal(sensitivityT1(w2, 3).item(), 2);
    // z = [1, 0, 1] (sum 2), label 0: class 0 gives 0, class 1 |z (W0 - W1)| / 2 = [0.5, 0, 1]
    const z = tensor([[1, 0, 1]]);
    assert.equal(sensitivityT2(z, w2, long([0]), 1).item(), 0.5);
    assert.equal(sensitivityT2(z, w2, long([0]), 2).item(), 0.375);
    // the same input labelled 1: |W1 - W0| is symmetric
    assert.equal(sensitivityT2(z, w2, long([1]), 1).item(), 0.5);

    // C = 3, k = 2: pair means (0,1) 0.5, (0,2) 1.5, (1,2) 2; only the winner gets gradient
    const w3 = leaf(
      tensor([
        [0, 0],
        [1, 0],
        [0, 3],
      ]),
    );
    const t1 = sensitivityT1(w3, 2);
    assert.equal(t1.item(), 2);
    t1.backward();
    assert.deepEqual(w3.grad!.toNumbers(), [0, 0, 0.5, -0.5, -0.5, 0.5]);
    assert.equal(sensitivityT1(w3, 1).item(), 3);

    // all-zero features: T2 = 0 with finite (zero) gradients instead of the reference's NaN
    const z0 = leaf(
      tensor([
        [0, 0, 0],
        [0, 0, 0],
      ]),
    );
    const w0 = leaf(w2);
    const r = sensitivityRegularizer(z0, w0, long([0, 1]), { topK: 2, delta1: 1, delta2: 1 });
    assert.equal(r.t2.item(), 0);
    r.total.backward();
    assert.deepEqual(z0.grad!.toNumbers(), [0, 0, 0, 0, 0, 0]);
    // only T1 pushes: W0 - W1 = [1, -3, 2], its top-2 are features 1 and 2, each weighing 1/2
    assert.deepEqual(w0.grad!.toNumbers(), [0, -0.5, 0.5, 0, 0.5, -0.5]);
  });
});

test('bad inputs are rejected with a clear message', () => {
  scope(() => {
    const w = tensor([
      [1, 2, 3],
      [0, 5, 1],
    ]);
    const z = tensor([[1, 0, 1]]);
    const y = long([0]);
    assert.throws(() => sensitivityT1(w, 4), /topK must be an integer in \[1, 3\].*got 4/);
    assert.throws(() => sensitivityT1(w, 0), /topK must be an integer in \[1, 3\]/);
    assert.throws(() => sensitivityT1(w, 1.5), /topK must be an integer/);
    assert.throws(() => sensitivityT1(tensor([1, 2, 3]), 1), /weight must be 2-d/);
    assert.throws(() => sensitivityT1(tensor([[1, 2, 3]]), 1), /at least 2 classes, the weight has 1/);
    assert.throws(() => sensitivityT2(tensor([[1, 0]]), w, y, 1), /features must be \[N, 3\].*got \[1, 2\]/);
    assert.throws(() => sensitivityT2(tensor([1, 0, 1]), w, y, 1), /features must be \[N, 3\]/);
    assert.throws(() => sensitivityT2(z, w, long([0, 1]), 1), /labels must be \[1\].*got \[2\]/);
    assert.throws(() => sensitivityT2(z, w, tensor([0]), 1), /labels must be int64, got float32/);
    assert.throws(() => sensitivityT2(z, w, long([2]), 1), /labels must be in \[0, 1\], got values in \[2, 2\]/);
    assert.throws(() => sensitivityT2(z, w, long([-1]), 1), /labels must be in \[0, 1\]/);
    assert.throws(() => sensitivityRegularizer(z, w, long([5]), { topK: 1, delta1: 1, delta2: 1 }), /labels must be in/);
  });
});

test('no tensor outlives the scope: forward, backward and failed calls', () => {
  const g = new Generator(3);
  const before = liveTensors();
  scope(() => {
    const z = randn([16, 32], { generator: g }).relu().requiresGrad_();
    const w = randn([7, 32], { generator: g }).requiresGrad_();
    const y = long([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1]);
    const r = sensitivityRegularizer(z, w, y, { topK: 8, delta1: 10, delta2: 100 });
    r.total.backward();
    assert.ok(Number.isFinite(w.grad!.sum().item()) && Number.isFinite(z.grad!.sum().item()));
    assert.throws(() => sensitivityRegularizer(z, w, long(new Array(16).fill(9)), { topK: 8, delta1: 1, delta2: 1 }));
  });
  assert.equal(liveTensors(), before);
  // outside any scope, a failing call frees what it made before failing (T1 here)
  const args = [
    tensor([[1, 2]]),
    tensor([
      [1, 2],
      [3, 4],
    ]),
    long([3]),
  ] as const;
  const mid = liveTensors();
  assert.throws(() => sensitivityRegularizer(...args, { topK: 1, delta1: 1, delta2: 1 }), /labels must be in/);
  assert.equal(liveTensors(), mid);
  for (const t of args) t.dispose();
});
