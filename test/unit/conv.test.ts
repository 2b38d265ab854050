// The addon's conv2d (native/conv.cc): libtorch's conv2d, whose input gradient for one to three
// input channels on the CPU comes from libtorch's im2col kernel instead of oneDNN's. Checked
// against libtorch's own conv2d op (outputs, weight and bias gradients bit for bit, the input
// gradient to float32 rounding) and against the input gradient summed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as F from '../../src/nn/functional.js';
import { enableGrad, grad, noGrad } from '../../src/tensor/autograd.js';
import { op } from '../../src/tensor/op.js';
import { scope } from '../../src/tensor/scope.js';
import { Generator } from '../../src/tensor/random.js';
import { rand, randn } from '../../src/tensor/creation.js';
import { liveTensors } from '../../src/tensor/runtime.js';
import { autocast } from '../../src/tensor/device.js';
import { wrap, type Tensor } from '../../src/tensor/tensor.js';

type Pair = number | [number, number];
interface Case {
  x: number[];
  out: number;
  k: [number, number];
  stride: Pair;
  padding: Pair;
  bias: boolean;
}

const bits = (t: Tensor): Uint32Array => new Uint32Array(Float32Array.from(t.contiguous().toArray<'float32'>()).buffer);
const maxAbs = (t: Tensor): number => t.abs().max().toNumbers()[0]!;

/** libtorch's conv2d op, with no fast path in between. */
function libtorchConv(x: Tensor, w: Tensor, b: Tensor | null, c: Case): Tensor {
  return wrap(op('conv2d').call(x.native, w.native, b?.native ?? null, c.stride, c.padding, 1, 1));
}

/** Output and gradients (input, weight, bias) of one convolution, for a fixed upstream gradient. */
function run(conv: (x: Tensor, w: Tensor, b: Tensor | null) => Tensor, x0: Tensor, w0: Tensor, b0: Tensor | null, up: Tensor) {
  const x = x0.detach().requiresGrad_(true);
  const w = w0.detach().requiresGrad_(true);
  const b = b0 ? b0.detach().requiresGrad_(true) : null;
  const y = enableGrad(() => conv(x, w, b));
  const g = grad(y, b ? [x, w, b] : [x, w], { gradOutputs: [up] });
  return { y, gx: g[0]!, gw: g[1]!, gb: b ? g[2]! : null };
}

const CASES: Case[] = [
  { x: [5, 1, 28, 28], out: 16, k: [3, 3], stride: 1, padding: 1, bias: true },
  { x: [4, 3, 11, 9], out: 8, k: [3, 3], stride: 2, padding: 1, bias: true },
  { x: [3, 2, 10, 7], out: 4, k: [3, 3], stride: 1, padding: 0, bias: false },
  { x: [2, 3, 9, 12], out: 5, k: [5, 3], stride: [2, 1], padding: [2, 1], bias: true },
  { x: [2, 1, 6, 6], out: 3, k: [3, 3], stride: 1, padding: 1, bias: true },
];

test('conv2d with 1 to 3 input channels: outputs and weight gradients are libtorch bit for bit, the input gradient to rounding', () => {
  const g = new Generator(11);
  for (const c of CASES) {
    scope(() => {
      const x = rand(c.x, { generator: g });
      const w = randn([c.out, c.x[1]!, ...c.k], { generator: g });
      const b = c.bias ? randn([c.out], { generator: g }) : null;
      const opts = { stride: c.stride, padding: c.padding };
      const up = randn(noGrad(() => F.conv2d(x, w, b, opts)).shape, { generator: g });
      const ours = run((xx, ww, bb) => F.conv2d(xx, ww, bb, opts), x, w, b, up);
      const theirs = run((xx, ww, bb) => libtorchConv(xx, ww, bb, c), x, w, b, up);
      const what = JSON.stringify(c);
      assert.deepEqual(bits(ours.y), bits(theirs.y), `${what}: output`);
      assert.deepEqual(bits(ours.gw), bits(theirs.gw), `${what}: weight gradient`);
      if (c.bias) assert.deepEqual(bits(ours.gb!), bits(theirs.gb!), `${what}: bias gradient`);
      const err = maxAbs(ours.gx.sub(theirs.gx));
      assert.ok(err <= 1e-6 * maxAbs(theirs.gx) + 1e-6, `${what}: input gradient off by ${err}`);
      assert.ok(maxAbs(ours.gx) > 0.1, `${what}: the input gradient is not trivially zero`);
    });
  }
});

test('conv2d input gradient equals the sum by hand: dx[c, i, j] = sum of w[o, c, u, v] dy[o, (i + p - u) / s, (j + p - v) / s]', () => {
  scope(() => {
    const g = new Generator(5);
    const [n, cin, h, wd, out, k, s, p] = [2, 2, 7, 6, 3, 3, 2, 1];
    const x = rand([n, cin, h, wd], { generator: g });
    const w = randn([out, cin, k, k], { generator: g });
    const oh = Math.floor((h + 2 * p - k) / s) + 1;
    const ow = Math.floor((wd + 2 * p - k) / s) + 1;
    const up = randn([n, out, oh, ow], { generator: g });
    const { gx } = run((xx, ww) => F.conv2d(xx, ww, null, { stride: s, padding: p }), x, w, null, up);
    const W = w.toArray<'float32'>();
    const U = up.toArray<'float32'>();
    const got = gx.toArray<'float32'>();
    for (let b = 0; b < n; b++)
      for (let c = 0; c < cin; c++)
        for (let i = 0; i < h; i++)
          for (let j = 0; j < wd; j++) {
            let sum = 0;
            for (let o = 0; o < out; o++)
              for (let u = 0; u < k; u++)
                for (let v = 0; v < k; v++) {
                  const yi = i + p - u;
                  const yj = j + p - v;
                  if (yi % s || yj % s || yi < 0 || yj < 0 || yi / s >= oh || yj / s >= ow) continue;
                  sum += W[((o * cin + c) * k + u) * k + v]! * U[((b * out + o) * oh + yi / s) * ow + yj / s]!;
                }
            const at = ((b * cin + c) * h + i) * wd + j;
            assert.ok(Math.abs(got[at]! - sum) <= 1e-5 * (1 + Math.abs(sum)), `dx[${b}, ${c}, ${i}, ${j}] = ${got[at]}, by hand ${sum}`);
          }
  });
});

test('conv2d: a gradient of the input gradient (create_graph) is libtorch bit for bit', () => {
  scope(() => {
    const g = new Generator(7);
    const c: Case = { x: [3, 1, 9, 9], out: 4, k: [3, 3], stride: 1, padding: 1, bias: true };
    const x0 = rand(c.x, { generator: g });
    const w0 = randn([4, 1, 3, 3], { generator: g });
    const b0 = randn([4], { generator: g });
    const second = (conv: (x: Tensor, w: Tensor, b: Tensor) => Tensor) => {
      const x = x0.detach().requiresGrad_(true);
      const w = w0.detach().requiresGrad_(true);
      const [gx] = enableGrad(() => grad(conv(x, w, b0).square().sum(), x, { createGraph: true }));
      return grad(
        enableGrad(() => gx!.square().sum()),
        w,
      )[0]!;
    };
    const ours = second((x, w, b) => F.conv2d(x, w, b, { padding: 1 }));
    const theirs = second((x, w, b) => libtorchConv(x, w, b, c));
    assert.ok(maxAbs(ours) > 0);
    assert.deepEqual(bits(ours), bits(theirs));
  });
});

test('conv2d outside the fast path (4 channels, no gradient, dilation, groups) is libtorch bit for bit; bad shapes are JS errors', () => {
  scope(() => {
    const g = new Generator(9);
    const x = rand([2, 4, 8, 8], { generator: g });
    const w = randn([6, 2, 3, 3], { generator: g });
    const b = randn([6], { generator: g });
    const ours = noGrad(() => F.conv2d(x, w, b, { padding: 2, dilation: 2, groups: 2 }));
    const theirs = wrap(op('conv2d').call(x.native, w.native, b.native, 1, 2, 2, 2));
    assert.deepEqual(bits(ours), bits(theirs));
    const w4 = randn([3, 4, 3, 3], { generator: g });
    const up = randn([2, 3, 8, 8], { generator: g });
    const four: Case = { x: [2, 4, 8, 8], out: 3, k: [3, 3], stride: 1, padding: 1, bias: false };
    const a = run((xx, ww) => F.conv2d(xx, ww, null, { padding: 1 }), x, w4, null, up);
    const r = run((xx, ww) => libtorchConv(xx, ww, null, four), x, w4, null, up);
    assert.deepEqual(bits(a.gx), bits(r.gx));
    const x1 = rand([2, 1, 8, 8], { generator: g }).requiresGrad_(true);
    assert.throws(() => enableGrad(() => F.conv2d(x1, randn([3, 2, 3, 3]))), /channels|size|shape/i);
    // sizes are integers, as libtorch's int[2] arguments
    assert.throws(() => enableGrad(() => F.conv2d(x1, randn([3, 1, 3, 3]), null, { stride: 1.5 })), /stride must contain integers/);
    assert.throws(() => F.conv2d(x, w, b, { padding: [1, 1, 1] as unknown as [number, number] }), /padding must be an integer or a pair/);
    assert.throws(() => F.conv2d(x, w, b, { groups: 2.5 }), /groups must contain integers/);
  });
});

test('conv2d under bf16 autocast: the input gradient is libtorch bit for bit (the im2col kernel takes float32 only)', () => {
  scope(() => {
    const g = new Generator(13);
    const c: Case = { x: [4, 1, 12, 12], out: 8, k: [3, 3], stride: 1, padding: 1, bias: true };
    const x = rand(c.x, { generator: g });
    const w = randn([8, 1, 3, 3], { generator: g });
    const b = randn([8], { generator: g });
    const gradOf = (conv: (x: Tensor) => Tensor) => {
      const xi = x.detach().requiresGrad_(true);
      const y = enableGrad(() =>
        autocast('cpu', 'bfloat16', () => conv(xi))
          .float()
          .square()
          .sum(),
      );
      return grad(y, xi)[0]!;
    };
    const ours = gradOf((xi) => F.conv2d(xi, w, b, { padding: 1 }));
    const theirs = gradOf((xi) => libtorchConv(xi, w, b, c));
    assert.equal(ours.dtype, 'float32');
    assert.ok(maxAbs(ours) > 0);
    assert.deepEqual(bits(ours), bits(theirs));
  });
});

test('conv2d leaves no tensor behind', () => {
  const before = liveTensors();
  scope(() => {
    const x = rand([3, 1, 10, 10]).requiresGrad_(true);
    const w = randn([4, 1, 3, 3]).requiresGrad_(true);
    const y = enableGrad(() => F.conv2d(x, w, null, { padding: 1 }));
    grad(y.sum(), [x, w]);
  });
  assert.equal(liveTensors(), before);
});
