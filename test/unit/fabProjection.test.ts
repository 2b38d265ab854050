// FAB's Linf projection by the addon (native/fabProjection.cc) against the op-by-op version
// (src/attacks/fabProjections.ts, projectionLinfOps, which test/reference/fab.test.ts checks
// against fra31/auto-attack's fixtures): the same numbers, on problems with every case of the
// projection (hyperplane inside the box, beyond every breakpoint, unreachable), ties in the
// sort, coordinates that do not move, points outside [0, 1] and NaN, and sizes from one
// coordinate to a CIFAR image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { projectionLinf, projectionLinfOps } from '../../src/attacks/fabProjections.js';
import { fabProjectionLinfNative } from '../../src/tensor/fabProjection.js';
import { scope } from '../../src/tensor/scope.js';
import { Generator } from '../../src/tensor/random.js';
import { rand, randn, tensor, zeros } from '../../src/tensor/creation.js';
import { liveTensors } from '../../src/tensor/runtime.js';
import { where, type Tensor } from '../../src/tensor/tensor.js';

/** A batch of problems: points with many pixels exactly 0 or 1 (ties), normals with zeros, offsets near and far. */
function problems(n: number, dim: number, g: Generator): { t: Tensor; w: Tensor; b: Tensor } {
  const u = rand([n, dim], { generator: g });
  const t = where(u.lt(0.3), 0, where(u.gt(0.85), 1, rand([n, dim], { generator: g })));
  const w = randn([n, dim], { generator: g }).mul(rand([n, dim], { generator: g }).gt(0.1).float());
  // <w, t> plus an offset from small (reachable) to large (beyond the box), either sign
  const spread = tensor(
    Float32Array.from({ length: n }, (_, r) => [0.01, 0.3, 1, 5, 30, 1e3][r % 6]! * (r % 4 < 2 ? 1 : -1)),
    { shape: [n] },
  );
  const b = w
    .mul(t)
    .sum(1)
    .add(spread.mul(w.abs().sum(1)).mul(rand([n], { generator: g })));
  return { t, w, b };
}

function assertSame(ours: Tensor, theirs: Tensor, what: string): void {
  const a = ours.toArray<'float32'>();
  const e = theirs.toArray<'float32'>();
  assert.equal(a.length, e.length, `${what}: size`);
  for (let i = 0; i < a.length; i++) {
    if (!(a[i] === e[i] || (Number.isNaN(a[i]) && Number.isNaN(e[i])))) assert.fail(`${what}: entry ${i} is ${a[i]}, op by op ${e[i]}`);
  }
}

test("the addon's Linf projection equals the op-by-op one, every case, ties and fixed coordinates included", () => {
  scope(() => {
    const g = new Generator(21);
    for (const [n, dim] of [
      [1, 1],
      [6, 2],
      [12, 7],
      [48, 784],
      [12, 3072],
    ] as const) {
      const { t, w, b } = problems(n, dim, g);
      const ours = fabProjectionLinfNative(t, w, b);
      assertSame(ours, projectionLinfOps(t, w, b), `${n}x${dim}`);
      // the problems reach every case: some coordinates move, by different amounts per row
      if (dim > 2) assert.ok(ours.abs().sum(1).gt(0).sum().item() >= n / 2, `${n}x${dim}: most rows move`);
    }
  });
});

test('the Linf projection of points outside [0, 1], NaN among them: the sort keys below 0 and above 1 too', () => {
  scope(() => {
    const g = new Generator(5);
    for (const dim of [9, 784]) {
      const { t: inside, w, b } = problems(24, dim, g);
      // a quarter of the pixels pushed outside the box, some to NaN
      const u = rand([24, dim], { generator: g });
      const t = where(u.lt(0.15), randn([24, dim], { generator: g }).mul(3), where(u.gt(0.99), Number.NaN, inside));
      assertSame(fabProjectionLinfNative(t, w, b), projectionLinfOps(t, w, b), `24x${dim} outside [0, 1]`);
    }
  });
});

test('the Linf projection: an all-zero normal, a zero row and a row of one value; projectionLinf picks the addon on the CPU', () => {
  scope(() => {
    const t = tensor(Float32Array.from([0, 0, 0, 0.5, 0.5, 0.5, 1, 0.2, 0]), { shape: [3, 3] });
    const w = tensor(Float32Array.from([0, 0, 0, 1, -1, 2, 0.5, 0.5, 0.5]), { shape: [3, 3] });
    const b = tensor(Float32Array.from([1, 0.75, -2]), { shape: [3] });
    assertSame(fabProjectionLinfNative(t, w, b), projectionLinfOps(t, w, b), 'edge rows');
    assertSame(projectionLinf(t, w, b), fabProjectionLinfNative(t, w, b), 'dispatch');
    assert.equal(fabProjectionLinfNative(zeros([0, 4]), zeros([0, 4]), zeros([0])).shape.join(), '0,4');
  });
});

test('the Linf projection refuses mismatched shapes and dtypes as JS errors, and leaves no tensor behind', () => {
  const before = liveTensors();
  scope(() => {
    assert.throws(() => fabProjectionLinfNative(zeros([2, 3]), zeros([2, 4]), zeros([2])), /expected t and w/);
    assert.throws(() => fabProjectionLinfNative(zeros([2, 3]), zeros([2, 3]), zeros([3])), /expected t and w/);
    assert.throws(() => fabProjectionLinfNative(zeros([2, 3], { dtype: 'float64' }), zeros([2, 3]), zeros([2])), /float32/);
    const g = new Generator(1);
    const { t, w, b } = problems(4, 10, g);
    fabProjectionLinfNative(t, w, b);
  });
  assert.equal(liveTensors(), before);
});
