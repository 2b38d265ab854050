// The tensor facade: data transfer, ops against closed forms, autograd, scopes, random numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad, scope, Generator, type Tensor } from '../../src/index.js';
import {
  tensor,
  zeros,
  ones,
  full,
  arange,
  randn,
  rand,
  randint,
  randperm,
  cat,
  stack,
  where,
  grad,
  liveTensors,
  setNumThreads,
  getNumThreads,
  isGradEnabled,
} from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';

test('typed arrays round-trip for float32, float64, int64, int32, uint8 and bool', () => {
  scope(() => {
    const f = tensor(new Float32Array([1.5, -2, 3.25, 0]), { shape: [2, 2] });
    assert.deepEqual(f.shape, [2, 2]);
    assert.equal(f.dtype, 'float32');
    assert.deepEqual([...f.toArray<'float32'>()], [1.5, -2, 3.25, 0]);
    const l = tensor(new BigInt64Array([1n, -(2n ** 40n), 7n]));
    assert.equal(l.dtype, 'int64');
    assert.deepEqual([...l.toArray<'int64'>()], [1n, -(2n ** 40n), 7n]);
    const u = tensor(new Uint8Array([0, 255, 7]));
    assert.equal(u.dtype, 'uint8');
    assert.deepEqual([...u.toArray<'uint8'>()], [0, 255, 7]);
    const b = tensor(new Uint8Array([1, 0, 1]), { dtype: 'bool' });
    assert.equal(b.dtype, 'bool');
    assert.deepEqual([...b.toArray<'bool'>()], [1, 0, 1]);
    const d = tensor(new Float64Array([Math.PI]));
    assert.equal(d.toArray<'float64'>()[0], Math.PI);
    assert.deepEqual([...tensor(new Int32Array([3, -4])).toArray<'int32'>()], [3, -4]);
    assert.deepEqual(
      tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]).shape,
      [2, 3],
    );
    assert.deepEqual(tensor([1, 2], { dtype: 'int64' }).toNumbers(), [1, 2]);
    const conv = tensor(new Float32Array([1.7, -2.2]), { dtype: 'int64' });
    assert.deepEqual(conv.toNumbers(), [1, -2]);
    assert.throws(() => tensor(new Float32Array(5), { shape: [2, 2] }), /20 bytes but shape and dtype need 16/);
    const s = tensor(new Float32Array([0, 0, 0]));
    s.setData(new Float32Array([4, 5, 6]));
    assert.deepEqual(s.toNumbers(), [4, 5, 6]);
  });
});

test('elementwise math, reductions and matmul against closed forms', () => {
  scope(() => {
    const a = tensor([
      [1, 2],
      [3, 4],
    ]);
    const b = tensor([
      [5, 6],
      [7, 8],
    ]);
    assert.deepEqual(a.add(b).toNumbers(), [6, 8, 10, 12]);
    assert.deepEqual(a.sub(b, 2).toNumbers(), [-9, -10, -11, -12]);
    assert.deepEqual(a.mul(b).toNumbers(), [5, 12, 21, 32]);
    assert.deepEqual(a.div(2).toNumbers(), [0.5, 1, 1.5, 2]);
    assert.deepEqual(tensor([3], { dtype: 'int64' }).div(2).toNumbers(), [1.5]);
    assert.deepEqual(a.matmul(b).toNumbers(), [19, 22, 43, 50]);
    assert.deepEqual(a.sum(1).toNumbers(), [3, 7]);
    assert.deepEqual(a.sum([0, 1]).toNumbers(), [10]);
    assert.equal(a.mean().item(), 2.5);
    assert.ok(Math.abs(a.std().item() - Math.sqrt(5 / 3)) < 1e-6, 'std is unbiased (n-1)');
    assert.ok(Math.abs(a.std(undefined, { unbiased: false }).item() - Math.sqrt(1.25)) < 1e-6);
    assert.deepEqual(a.maxDim(1).values.toNumbers(), [2, 4]);
    assert.deepEqual(a.argmax(1).toNumbers(), [1, 1]);
    assert.ok(
      Math.abs(
        tensor([[3, 4]])
          .norm(2, 1)
          .item() - 5,
      ) < 1e-6,
    );
    assert.equal(
      tensor([[3, -4]])
        .norm(Infinity, 1)
        .item(),
      4,
    );
    assert.deepEqual(tensor([-2, 0, 3]).sign().toNumbers(), [-1, 0, 1]);
    assert.deepEqual(tensor([-2, 0.5, 3]).clamp(0, 1).toNumbers(), [0, 0.5, 1]);
    assert.deepEqual(tensor([-2, 0.5, 3]).clamp(null, 1).toNumbers(), [-2, 0.5, 1]);
    assert.deepEqual(where(a.gt(2), a, 0).toNumbers(), [0, 0, 3, 4]);
    assert.deepEqual(where(a.gt(2), 1, b).toNumbers(), [5, 6, 1, 1]);
    const sm = tensor([[0, Math.log(3)]])
      .softmax(1)
      .toNumbers();
    assert.ok(Math.abs(sm[0]! - 0.25) < 1e-6 && Math.abs(sm[1]! - 0.75) < 1e-6);
    const ls = tensor([[0, 0]])
      .logSoftmax(1)
      .toNumbers();
    assert.ok(Math.abs(ls[0]! - Math.log(0.5)) < 1e-6);
    assert.ok(Math.abs(F.crossEntropy(tensor([[0, 0]]), tensor([1], { dtype: 'int64' })).item() - Math.log(2)) < 1e-6);
    assert.deepEqual(tensor([1, 2, 3]).isfinite().toNumbers(), [1, 1, 1]);
    assert.deepEqual(tensor([1, 2]).div(0).isinf().toNumbers(), [1, 1]);
  });
});

test('topk, stable sort, argsort, gather, index_select, cat/stack, views', () => {
  scope(() => {
    const x = tensor([
      [3, 1, 2, 1],
      [0, 5, 5, 4],
    ]);
    const { values, indices } = x.topk(2, 1);
    assert.deepEqual(values.toNumbers(), [3, 2, 5, 5]);
    assert.deepEqual(indices.toNumbers().slice(0, 2), [0, 2]);
    // stable: equal values keep their original order
    assert.deepEqual(x.argsort(1).toNumbers(), [1, 3, 2, 0, 0, 3, 1, 2]);
    assert.deepEqual(x.sort(1, true).values.toNumbers(), [3, 2, 1, 1, 5, 5, 4, 0]);
    const idx = tensor([[0], [3]], { dtype: 'int64' });
    assert.deepEqual(x.gather(1, idx).toNumbers(), [3, 4]);
    assert.deepEqual(x.indexSelect(1, tensor([2], { dtype: 'int64' })).toNumbers(), [2, 5]);
    assert.deepEqual(cat([x, x], 0).shape, [4, 4]);
    assert.deepEqual(stack([x, x], 1).shape, [2, 2, 4]);
    assert.deepEqual(x.view([4, 2]).shape, [4, 2]);
    assert.deepEqual(x.permute([1, 0]).contiguous().toNumbers(), [3, 0, 1, 5, 2, 5, 1, 4]);
    assert.deepEqual(x.unsqueeze(0).shape, [1, 2, 4]);
    assert.deepEqual(x.slice(1, 1, 3).toNumbers(), [1, 2, 5, 5]);
    assert.deepEqual(x.index([tensor([1, 0], { dtype: 'int64' }), tensor([1, 0], { dtype: 'int64' })]).toNumbers(), [5, 3]);
    assert.deepEqual(arange(4).toNumbers(), [0, 1, 2, 3]);
    assert.equal(arange(4).dtype, 'int64');
    assert.deepEqual(full([2], 0.5).toNumbers(), [0.5, 0.5]);
    assert.deepEqual(
      ones([2], 'int64')
        .add(zeros([2], 'int64'))
        .toNumbers(),
      [1, 1],
    );
  });
});

test('in-place updates modify the tensor and return it', () => {
  scope(() => {
    const x = tensor([1, 2, 3]);
    assert.equal(x.add_(1), x);
    assert.deepEqual(x.toNumbers(), [2, 3, 4]);
    x.mul_(2)
      .sub_(tensor([1, 1, 1]))
      .clamp_(0, 6);
    assert.deepEqual(x.toNumbers(), [3, 5, 6]);
    x.copy_(tensor([9, 8, 7]));
    assert.deepEqual(x.toNumbers(), [9, 8, 7]);
    x.zero_();
    assert.deepEqual(x.toNumbers(), [0, 0, 0]);
  });
});

test('autograd: backward, grad of chosen inputs, no-grad scope', () => {
  scope(() => {
    const x = tensor([1, 2, 3]).requiresGrad_();
    const w = tensor([4, 5, 6]).requiresGrad_();
    const y = x.mul(w).sum();
    const [gx] = grad(y, x, { retainGraph: true });
    assert.deepEqual(gx!.toNumbers(), [4, 5, 6]);
    assert.equal(x.grad, null, 'grad() does not accumulate into .grad');
    y.backward();
    assert.deepEqual(x.grad!.toNumbers(), [4, 5, 6]);
    assert.deepEqual(w.grad!.toNumbers(), [1, 2, 3]);
    const z = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      return x.mul(2);
    });
    assert.equal(isGradEnabled(), true);
    assert.equal(z.requiresGrad, false);
    const [unused] = grad(x.sum(), [w], { allowUnused: true });
    assert.equal(unused, null);
    // second-order: d/dx (d/dx x^3) = 6x
    const x2 = tensor([2]).requiresGrad_();
    const [g1] = grad(x2.pow(3).sum(), x2, { createGraph: true });
    const [g2] = grad(g1!.sum(), x2);
    assert.deepEqual(g2!.toNumbers(), [12]);
  });
});

test('scope disposes what it created except returned and kept tensors', () => {
  const before = liveTensors();
  let kept: Tensor | null = null;
  const { out } = scope(() => {
    const a = ones([100]);
    const b = a.add(1);
    kept = a.mul(3).keep();
    b.mul(2);
    return { out: b.sum() };
  });
  assert.equal(out.item(), 200);
  assert.equal(kept!.isDisposed, false);
  assert.equal(liveTensors(), before + 2);
  out.dispose();
  kept!.dispose();
  assert.equal(liveTensors(), before);
  assert.throws(() => out.item(), /already disposed/);
  // errors inside a scope still free its tensors
  assert.throws(
    () =>
      scope(() => {
        ones([3]);
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(liveTensors(), before);
  {
    using t = ones([5]);
    assert.equal(t.numel(), 5);
  }
  assert.equal(liveTensors(), before, 'using disposes at block end');
});

test('seeded generators reproduce PyTorch streams and can be saved and restored', () => {
  scope(() => {
    // torch.Generator().manual_seed(0); torch.randn(3, generator=g)
    const g = new Generator(0);
    const want = [1.5409960746765137, -0.293428897857666, -2.1787893772125244];
    assert.deepEqual(
      [...randn([3], { generator: g }).toArray<'float32'>()].map((v) => +v.toFixed(6)),
      want.map((v) => +v.toFixed(6)),
    );
    const state = g.getState();
    const a = rand([5], { generator: g }).toNumbers();
    g.setState(state);
    assert.deepEqual(rand([5], { generator: g }).toNumbers(), a);
    g.manualSeed(7);
    const p1 = randperm(10, { generator: g }).toNumbers();
    g.manualSeed(7);
    assert.deepEqual(randperm(10, { generator: g }).toNumbers(), p1);
    assert.deepEqual(
      [...p1].sort((x, y) => x - y),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const r = randint(3, 5, [100], { generator: g }).toNumbers();
    assert.ok(r.every((v) => v === 3 || v === 4));
  });
});

test('thread count can be set and read', () => {
  const n = getNumThreads();
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  setNumThreads(n);
  assert.equal(getNumThreads(), n);
  assert.throws(() => setNumThreads(0), /positive/);
});
