// The addon's max pooling for windows that tile the input (native/pool.cc) against libtorch's
// own max_pool2d_with_indices: the same values bit for bit, with and without a graph to record,
// and the same gradient (so the same indices: the first maximum of a window, ties included, NaN
// as libtorch picks it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as F from '../../src/nn/functional.js';
import { grad, noGrad } from '../../src/tensor/autograd.js';
import { op } from '../../src/tensor/op.js';
import { scope } from '../../src/tensor/scope.js';
import { Generator } from '../../src/tensor/random.js';
import { rand, randn, tensor } from '../../src/tensor/creation.js';
import { wrap, type Tensor } from '../../src/tensor/tensor.js';
import { createModel } from '../../src/models/zoo.js';
import { native } from '../../src/native.js';

type Pair = [number, number];

/** libtorch's forward and backward, by its op, with no fast path in between. */
function reference(x: Tensor, k: Pair): Tensor {
  const out = op('max_pool2d_with_indices').call(x.native, k, k, [0, 0], [1, 1], false) as unknown as unknown[];
  return wrap(out[0] as Tensor['native']);
}

function bits(t: Tensor): Uint32Array {
  return new Uint32Array(Float32Array.from(t.contiguous().toArray<'float32'>()).buffer);
}

/** Pools x both ways and returns [ours, libtorch's] outputs and input gradients. */
function both(x: Tensor, k: Pair, g: Generator): { out: [Tensor, Tensor]; grad: [Tensor, Tensor] } {
  const a = x.detach().requiresGrad_(true);
  const b = x.detach().requiresGrad_(true);
  const ya = F.maxPool2d(a, k);
  const yb = reference(b, k);
  // distinct upstream gradients, so a gradient sent to the wrong element shows
  const up = rand(ya.shape, { generator: g }).add(1);
  const [ga] = grad(ya, a, { gradOutputs: [up] });
  const [gb] = grad(yb, b, { gradOutputs: [up] });
  return { out: [ya, yb], grad: [ga!, gb!] };
}

function assertSame(x: Tensor, k: Pair, g: Generator, what: string): void {
  scope(() => {
    const r = both(x, k, g);
    assert.deepEqual(r.out[0].shape, r.out[1].shape, `${what}: shape`);
    assert.deepEqual(bits(r.out[0]), bits(r.out[1]), `${what}: values`);
    assert.deepEqual(bits(r.grad[0]), bits(r.grad[1]), `${what}: gradient`);
    // with no graph to record, the values alone (no indices kept)
    assert.deepEqual(bits(noGrad(() => F.maxPool2d(x.detach(), k))), bits(r.out[1]), `${what}: values, no grad`);
  });
}

test('tiled max pooling equals libtorch: values and gradients, random inputs', () => {
  const g = new Generator(3);
  const cases: [number[], Pair][] = [
    [
      [4, 16, 28, 28],
      [2, 2],
    ],
    [
      [3, 8, 14, 14],
      [2, 2],
    ],
    [
      [1, 3, 7, 9],
      [2, 2],
    ], // odd sizes: floor, as libtorch
    [
      [2, 4, 9, 10],
      [3, 3],
    ],
    [
      [2, 2, 8, 9],
      [2, 3],
    ],
    [
      [2, 2, 5, 5],
      [1, 1],
    ],
    [
      [2, 5, 4, 4],
      [4, 4],
    ],
  ];
  for (const [shape, k] of cases) assertSame(randn(shape, { generator: g }), k, g, `${shape.join('x')} k${k.join('x')}`);
});

test('tiled max pooling equals libtorch where windows tie: the first maximum takes the gradient', () => {
  const g = new Generator(5);
  scope(() => {
    // after a ReLU on a coarse grid most windows hold equal values, zero and positive
    const x = randn([4, 6, 12, 12], { generator: g }).mul(2).floor().div(2).relu();
    assertSame(x, [2, 2], g, 'ties');
    assertSame(x, [3, 3], g, 'ties, 3x3');
    // a constant plane: every window is one tie, the first element wins
    assertSame(x.mul(0).add(0.25), [2, 2], g, 'constant');
  });
});

test('tiled max pooling equals libtorch on infinities and NaN', () => {
  const g = new Generator(7);
  const ninf = -Infinity;
  const v = [ninf, ninf, ninf, ninf, NaN, 1, 2, NaN, 1, NaN, NaN, 3, Infinity, 5, Infinity, ninf];
  // one [1, 1, 2, 8] plane: four 2x2 windows in a row
  const x = tensor(Float32Array.from([...v.slice(0, 8), ...v.slice(8)]), { shape: [1, 1, 2, 8] });
  scope(() => {
    const r = both(x, [2, 2], g);
    assert.deepEqual(bits(r.out[0]), bits(r.out[1]));
    assert.deepEqual(bits(r.grad[0]), bits(r.grad[1]));
  });
});

test("max pooling outside the tiled case is libtorch's, on any layout", () => {
  const g = new Generator(9);
  scope(() => {
    const x = randn([2, 3, 10, 10], { generator: g });
    // a transposed (non-contiguous) input goes the general way inside the addon
    assertSame(x.transpose(2, 3), [2, 2], g, 'non-contiguous');
    // overlapping windows, padding: libtorch's own op
    const a = F.maxPool2d(x, 3, 2, 1);
    const b = wrap(
      (op('max_pool2d_with_indices').call(x.native, [3, 3], [2, 2], [1, 1], [1, 1], false) as unknown as Tensor['native'][])[0]!,
    );
    assert.deepEqual(bits(a), bits(b));
    // a 3-d input (no batch dimension) is libtorch's too
    assert.deepEqual(F.maxPool2d(x.select(0, 0), 2).shape, [3, 5, 5]);
  });
});

test('tiled max pooling gives a second derivative, as libtorch does', () => {
  const g = new Generator(11);
  scope(() => {
    const x = randn([2, 2, 6, 6], { generator: g }).requiresGrad_(true);
    const w = randn([2, 2, 3, 3], { generator: g });
    const second = (pool: (t: Tensor) => Tensor) => {
      const y = pool(x.mul(x)).mul(w).sum();
      const [gx] = grad(y, x, { createGraph: true });
      return grad(gx!.square().sum(), x)[0]!;
    };
    assert.deepEqual(bits(second((t) => F.maxPool2d(t, 2))), bits(second((t) => reference(t, [2, 2]))));
  });
});

test("models pooling through the addon give the same logits, features and input gradient as through libtorch's pooling", () => {
  const cases: [string, [number, number, number]][] = [
    ['small-cnn', [1, 28, 28]],
    ['vgg11', [3, 32, 32]],
  ];
  for (const [arch, inputShape] of cases) {
    const m = createModel({ arch, inputShape, numClasses: 10, width: 0.25 }, { generator: new Generator(3) }).eval();
    try {
      scope(() => {
        const x = rand([5, ...inputShape], { generator: new Generator(4) });
        const run = () => {
          const xi = x.detach().requiresGrad_(true);
          const o = m.forward(xi);
          const [gx] = grad(o.features.sum().add(o.logits.sum()), xi);
          return [o.logits.detach(), o.features.detach(), gx!];
        };
        const ours = run();
        const own = native.maxPool2dTiled;
        let calls = 0;
        native.maxPool2dTiled = (h, kh, kw) => {
          calls++;
          return op('max_pool2d').call(h, [kh, kw], [kh, kw], [0, 0], [1, 1], false) as typeof h;
        };
        try {
          run().forEach((t, i) => assert.deepEqual(bits(t), bits(ours[i]!), `${arch}: output ${i}`));
        } finally {
          native.maxPool2dTiled = own;
        }
        assert.ok(calls >= 2, `${arch}: the model pools through the addon (${calls} calls)`);
      });
    } finally {
      m.dispose();
    }
  }
});
