// The local forward (nn/localForward.ts) and the window copies under it (tensor/window.ts):
// windows against slices, the logits of a changed square against a full forward of the changed
// images (bit for bit: the same kernels on fewer positions), refused changes undone, and
// Square's answers the same with and without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, liveTensors, noGrad, rand, randn, scope, tensor, where, type Tensor } from '../../src/tensor/index.js';
import { putWindows_, windows } from '../../src/tensor/window.js';
import { LocalForward } from '../../src/nn/localForward.js';
import { convStackAvailable } from '../../src/nn/convStack.js';
import { withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';
import { BatchNorm2d, Conv2d, ReLU } from '../../src/nn/layers.js';
import { createModel } from '../../src/models/zoo.js';
import type { ImageClassifier } from '../../src/models/classifier.js';
import { squareAttack } from '../../src/attacks/square.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';

const corners = (n: number, high: number, g: () => number) => Int32Array.from({ length: n }, () => Math.floor(g() * (high + 1)));

/** A deterministic uniform draw in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('windows cuts each row at its own corner and putWindows_ writes back only the rows asked for', () => {
  scope(() => {
    const x = randn([3, 2, 6, 7]);
    const ys = Int32Array.of(0, 3, 2);
    const xs = Int32Array.of(4, 0, 2);
    const w = windows(x, ys, xs, 3, 3);
    assert.deepEqual(w.shape, [3, 2, 3, 3]);
    for (let r = 0; r < 3; r++) {
      const slice = x.select(0, r).narrow(1, ys[r]!, 3).narrow(2, xs[r]!, 3);
      assert.deepEqual(w.select(0, r).toFloat32Array(), slice.contiguous().toFloat32Array());
    }
    // float64 takes libtorch's gather / scatter_ path: the same windows
    assert.deepEqual(windows(x.to('float64'), ys, xs, 3, 3).float().toFloat32Array(), w.toFloat32Array());
    for (const dtype of ['float32', 'float64'] as const) {
      const y = x.to(dtype).clone();
      const v = randn([3, 2, 3, 3]).to(dtype);
      putWindows_(y, ys, xs, v, tensor([1, 0, 1], { dtype: 'bool' } as never).to('bool'));
      assert.deepEqual(windows(y, ys, xs, 3, 3).select(0, 0).toFloat32Array(), v.select(0, 0).float().toFloat32Array(), dtype);
      assert.deepEqual(y.select(0, 1).float().toFloat32Array(), x.select(0, 1).toFloat32Array(), `${dtype}: row 1 untouched`);
      // outside the windows nothing changed
      const outside = putWindows_(y.clone(), ys, xs, windows(x.to(dtype), ys, xs, 3, 3));
      assert.deepEqual(outside.float().toFloat32Array(), x.toFloat32Array(), `${dtype}: only the windows were written`);
    }
    assert.throws(() => windows(x, Int32Array.of(0, 4, 0), xs, 3, 3), /row 1's window at \(4, 0\) leaves the image/);
    assert.throws(() => windows(x, ys, Int32Array.of(0, 0), 3, 3), /one corner per row/);
    assert.throws(() => windows(x, ys, xs, 7, 3), /does not fit/);
    assert.throws(() => putWindows_(x, ys, xs, randn([3, 1, 3, 3])), /n, c, dtype and device/);
  });
});

test('windows and putWindows_ on channel-blocked batches [n, c, h, w, b]: the windows of the plain batch, blocked', () => {
  scope(() => {
    // [3, 32, 6, 7] held as [3, 2, 6, 7, 16]: channel k of block j is channel 16 j + k
    const plain = randn([3, 32, 6, 7]);
    const blocked = (t: Tensor) => {
      const [n, c, h, w] = t.shape as [number, number, number, number];
      return t
        .reshape([n, c / 16, 16, h, w])
        .permute([0, 1, 3, 4, 2])
        .contiguous();
    };
    const x = blocked(plain);
    const ys = Int32Array.of(0, 3, 2);
    const xs = Int32Array.of(4, 0, 2);
    const w = windows(x, ys, xs, 3, 3);
    assert.deepEqual(w.shape, [3, 2, 3, 3, 16]);
    assert.deepEqual(w.toFloat32Array(), blocked(windows(plain, ys, xs, 3, 3)).toFloat32Array());
    const v = randn([3, 32, 3, 3]);
    const keep = tensor([0, 1, 1], { shape: [3] }).to('bool');
    const y = x.clone();
    putWindows_(y, ys, xs, blocked(v), keep);
    assert.deepEqual(y.toFloat32Array(), blocked(putWindows_(plain.clone(), ys, xs, v, keep)).toFloat32Array());
    assert.throws(() => putWindows_(y, ys, xs, randn([3, 2, 3, 3, 8])), /blocked batch/);
    assert.throws(() => putWindows_(y, ys, xs, v), /n, c, dtype and device/);
    assert.throws(() => windows(x.to('float64'), ys, xs, 3, 3), /channel-blocked batch must be CPU float32/);
  });
});

/** A model with batch norm whose statistics are not the identity (a few train-mode forwards). */
function calibrated(arch: 'small-cnn' | 'vgg11', seed: number): ImageClassifier {
  const shape: [number, number, number] = arch === 'vgg11' ? [3, 32, 32] : [1, 28, 28];
  const model = createModel({ arch, inputShape: shape, numClasses: 10, width: 0.25 }, { generator: new Generator(seed) });
  scope(() => noGrad(() => model.forward(rand([16, ...shape]))));
  return model.eval();
}

for (const arch of ['small-cnn', 'vgg11'] as const) {
  for (const folded of [true, false]) {
    const name = `local forward (${arch}, batch norm ${folded ? 'folded' : 'as is'})`;
    test(`${name}: a changed square's logits are a full forward's bit for bit, refused changes undone`, () => {
      const model = calibrated(arch, 3);
      const before = liveTensors();
      const [c, h, w] = model.config.inputShape;
      const n = 6;
      const g = uniform(11);
      const local = LocalForward.of(model.localPlan()!, [c, h, w])!;
      assert.ok(local);
      const run = () =>
        scope(() =>
          noGrad(() => {
            let x = rand([n, c, h, w]);
            const logits0 = local.start(x);
            // batch norm folded: the native stack runs every stage, on channel-blocked caches
            assert.equal(local.blocked, folded && convStackAvailable(), 'blocked caches');
            assert.deepEqual(logits0.toFloat32Array(), model.forward(x).logits.toFloat32Array());
            for (const s of [1, 2, 3, 5, h]) {
              const ys = corners(n, h - s, g);
              const xs = corners(n, w - s, g);
              const patch = rand([n, c, s, s]);
              const changed = putWindows_(x.clone(), ys, xs, patch);
              const got = local.change(ys, xs, patch);
              assert.deepEqual(got.toFloat32Array(), model.forward(changed).logits.toFloat32Array(), `side ${s}`);
              const keep = tensor(
                Uint8Array.from({ length: n }, (_, r) => (r + s) % 2),
                { shape: [n] },
              ).to('bool');
              local.settle(keep);
              x = where(keep.view([n, 1, 1, 1]), changed, x);
            }
            // the caches hold the kept images: a last change, then rows narrowed
            const idx = tensor(BigInt64Array.of(4n, 1n), { shape: [2] });
            local.keepRows(idx);
            const ys = Int32Array.of(0, h - 2);
            const xs = Int32Array.of(w - 2, 0);
            const patch = rand([2, c, 2, 2]);
            const got = local.change(ys, xs, patch);
            const expected = model.forward(putWindows_(x.indexSelect(0, idx).contiguous(), ys, xs, patch)).logits;
            assert.deepEqual(got.toFloat32Array(), expected.toFloat32Array(), 'after keepRows');
            local.settle(tensor([1, 0], { shape: [2] }).to('bool'));
            // a lone row left: its caches back in NCHW, run layer by layer as a forward of one image
            const kept = putWindows_(x.indexSelect(0, idx).contiguous(), ys, xs, patch).narrow(0, 0, 1);
            local.keepRows(tensor(BigInt64Array.of(0n), { shape: [1] }));
            assert.equal(local.blocked, false, 'one row: plain caches');
            const one = rand([1, c, 3, 3]);
            const lone = local.change(Int32Array.of(1), Int32Array.of(2), one);
            assert.deepEqual(
              lone.toFloat32Array(),
              model.forward(putWindows_(kept.clone(), Int32Array.of(1), Int32Array.of(2), one)).logits.toFloat32Array(),
              'one row',
            );
            local.settle(tensor([1], { shape: [1] }).to('bool'));
          }),
        );
      try {
        if (folded) withFoldedBatchNorm(model, run);
        else run();
      } finally {
        local.dispose();
      }
      assert.equal(liveTensors(), before, 'the local forward frees its caches and windows');
      model.dispose();
    });
  }
}

test('local forward: the work of a small square is a fraction of a full pass; stacks it cannot run give null', () => {
  const model = calibrated('small-cnn', 1);
  const local = LocalForward.of(model.localPlan()!, [1, 28, 28])!;
  const full = local.work(28).full;
  assert.equal(local.work(28).local, full, 'a square the size of the image reaches everything');
  assert.ok(local.work(2).local < full / 3, `side 2: ${local.work(2).local} of ${full}`);
  assert.ok(local.work(1).local <= local.work(2).local);
  local.dispose();
  model.dispose();
  const plan = (layers: ConstructorParameters<typeof Object>[0][]) => ({ normalize: (x: Tensor) => x, layers, tail: (x: Tensor) => x });
  assert.equal(LocalForward.of(plan([new Conv2d(1, 2, 3, { padding: 1, stride: 2 })]), [1, 8, 8]), null, 'stride 2');
  assert.equal(LocalForward.of(plan([new Conv2d(1, 2, 3)]), [1, 8, 8]), null, 'no padding: the planes shrink');
  assert.equal(LocalForward.of(plan([new ReLU(), new Conv2d(1, 2, 3, { padding: 1 })]), [1, 8, 8]), null, 'pointwise first');
  const bn = new BatchNorm2d(2);
  assert.equal(LocalForward.of(plan([new Conv2d(1, 2, 3, { padding: 1 }), bn]), [1, 8, 8]), null, 'batch norm in training mode');
  bn.eval();
  assert.ok(LocalForward.of(plan([new Conv2d(1, 2, 3, { padding: 1 }), bn]), [1, 8, 8]));
});

test('square (Linf): the same records, examples and queries with and without the local forward', () => {
  const model = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 }, { generator: new Generator(5) });
  const test10k = loadFashionMnist('test');
  // batch-norm statistics from test images, so that the predictions vary
  scope(() =>
    noGrad(() => [...Array(30)].forEach(() => model.forward(test10k.loadSync([...Array(64).keys()].map((i) => 1000 + i)).images))),
  );
  model.eval();
  const change = LocalForward.prototype.change;
  let changes = 0;
  LocalForward.prototype.change = function (this: LocalForward, ...a: Parameters<typeof change>) {
    changes++;
    return change.apply(this, a);
  };
  try {
    scope(() => {
      const indices = [...Array(12).keys()];
      const { images } = test10k.loadSync(indices);
      const labels = noGrad(() => model.forward(images).logits.argmax(1));
      // 300 queries over the stretched schedule: after query 120, its squares are 2, then 1 pixel
      const c = { norm: 'linf' as const, eps: 0.05, seed: 2, queries: 300, rescaleSchedule: true };
      const run = (localForward: boolean) => squareAttack(model, { images, labels, indices }, { ...c, localForward });
      const on = run(true);
      assert.ok(changes > 100, `the local forward ran (${changes} queries)`);
      const calls = changes;
      const off = run(false);
      assert.equal(changes, calls, 'localForward: false runs the whole model');
      assert.ok(on.records.filter((r) => r.success && r.iteration > 120).length >= 3, 'inputs fooled late, by small squares');
      assert.ok(
        on.records.some((r) => !r.success),
        'some input is not fooled',
      );
      assert.deepEqual(on.records, off.records);
      assert.deepEqual(Array.from(on.queries), Array.from(off.queries));
      assert.deepEqual(on.adversarial.toFloat32Array(), off.adversarial.toFloat32Array());
    });
  } finally {
    LocalForward.prototype.change = change;
    model.dispose();
  }
});
