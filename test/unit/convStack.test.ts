// The convolution stack (native/convStack.cc, nn/convStack.ts): a Sequential's front
// convolutions, ReLUs and max poolings in one native call on oneDNN's blocked layout. Checked
// against the same layers run one by one (libtorch's ops): outputs and input gradients bit for
// bit, on the default model's shape and on other stacks, and the cases it leaves to the layers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/models/zoo.js';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../src/nn/layers.js';
import { convStackAvailable, convStackRuns, setConvStackEnabled } from '../../src/nn/convStack.js';
import { withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';
import { enableGrad, grad, noGrad } from '../../src/tensor/autograd.js';
import { autocast } from '../../src/tensor/device.js';
import {
  convStack,
  convStackBackwardRows,
  convStackBlocked,
  convStackUnsupported,
  unblocked,
  type ConvStackLayer,
} from '../../src/tensor/convStack.js';
import { scope } from '../../src/tensor/scope.js';
import { Generator } from '../../src/tensor/random.js';
import { rand, randn, tensor } from '../../src/tensor/creation.js';
import { liveTensors } from '../../src/tensor/runtime.js';
import type { Tensor } from '../../src/tensor/tensor.js';

const bits = (t: Tensor): Uint32Array => new Uint32Array(Float32Array.from(t.contiguous().toArray<'float32'>()).buffer);
const skip = convStackAvailable() ? false : "the addon was built without oneDNN's headers (libdnnl-dev)";

/** fn's result with the native stack on or off, checking that it ran `runs` times (on) or not at all (off). */
function withStack<T>(on: boolean, runs: number, what: string, fn: () => T): T {
  const was = setConvStackEnabled(on);
  const before = convStackRuns();
  try {
    const out = fn();
    // a comparison of the two paths means something only if the stack ran, or did not
    assert.equal(convStackRuns() - before, on ? runs : 0, `${what}: native stack runs`);
    return out;
  } finally {
    setConvStackEnabled(was);
  }
}

/** The output and input gradient of `net` on x for upstream gradient up, with the native stack on or off. */
function run(net: Sequential, x0: Tensor, up: (y: Tensor) => Tensor, stack: boolean) {
  // both forwards through the stack
  return withStack(stack, 2, 'forwards', () => {
    const x = x0.detach().requiresGrad_(true);
    const y = enableGrad(() => net.forward(x));
    const gx = grad(y, x, { gradOutputs: [up(y)] })[0]!;
    return { y, gx, plain: noGrad(() => net.forward(x0)) };
  });
}

function frozen<T extends Sequential>(net: T): T {
  net.eval();
  for (const p of net.parameters()) p.requiresGrad_(false);
  return net;
}

/** The default model's features (small-cnn width 0.5) with batch norm, as attacks fold it. */
function smallCnn(g: Generator): Sequential {
  const block = (i: number, o: number) => [new Conv2d(i, o, 3, { padding: 1, generator: g }), new BatchNorm2d(o), new ReLU()];
  const net = new Sequential(
    ...block(1, 16),
    ...block(16, 16),
    new MaxPool2d(2),
    ...block(16, 32),
    ...block(32, 32),
    new MaxPool2d(2),
    new Flatten(),
  );
  noGrad(() => {
    for (const m of net.layers) {
      if (!(m instanceof BatchNorm2d)) continue;
      m.runningMean.copy_(randn([m.numFeatures], { generator: g }).mul(0.1));
      m.runningVar.copy_(rand([m.numFeatures], { generator: g }).add(0.5));
      m.weight.copy_(rand([m.numFeatures], { generator: g }).add(0.5));
      m.bias.copy_(randn([m.numFeatures], { generator: g }).mul(0.1));
    }
  });
  return frozen(net);
}

function assertSame(a: Tensor, b: Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  assert.deepEqual(bits(a), bits(b), `${what}: not bit for bit`);
}

test("the default model's features, batch norm folded: output and input gradient equal the layers' bit for bit", { skip }, () => {
  const g = new Generator(5);
  const net = smallCnn(g);
  withFoldedBatchNorm(net, () => {
    for (const n of [2, 3, 64, 300]) {
      scope(() => {
        const x = rand([n, 1, 28, 28], { generator: g });
        const w = randn([n, 32 * 7 * 7], { generator: g });
        const a = run(net, x, () => w, true);
        const b = run(net, x, () => w, false);
        assertSame(a.plain, b.plain, `forward, batch ${n}`);
        assertSame(a.y, b.y, `recorded forward, batch ${n}`);
        assertSame(a.gx, b.gx, `input gradient, batch ${n}`);
      });
    }
  });
});

test('rows whose output gradient is zero are left out of the backward: a zero input gradient, the other rows bit for bit', {
  skip,
}, () => {
  const g = new Generator(9);
  const net = smallCnn(g);
  withFoldedBatchNorm(net, () => {
    for (const [n, zero] of [
      [64, [0, 5, 6, 7, 8, 9, 10, 40, 63]],
      [3, [1]],
      [4, [0, 1, 2, 3]],
    ] as const) {
      scope(() => {
        const x = rand([n, 1, 28, 28], { generator: g });
        const w = randn([n, 32 * 7 * 7], { generator: g });
        const keep = Float32Array.from({ length: n }, (_, i) => ((zero as readonly number[]).includes(i) ? 0 : 1));
        // -0 counts as zero too
        const mask = tensor(keep, { shape: [n, 1] });
        const wz = w.mul(mask).mul(zero.length === n ? -1 : 1);
        const full = run(net, x, () => w, true);
        const before = convStackBackwardRows();
        const some = run(net, x, () => wz, true);
        assert.equal(convStackBackwardRows() - before, n - zero.length, `batch ${n}: rows the backward ran`);
        const layers = run(net, x, () => wz, false);
        assertSame(some.gx, layers.gx.mul(mask.view([n, 1, 1, 1])).add(0), `batch ${n}: against the layers`);
        for (let i = 0; i < n; i++) {
          const row = some.gx.select(0, i);
          if (keep[i]) assertSame(row, full.gx.select(0, i), `batch ${n}, row ${i}: against the whole batch`);
          else
            assert.ok(
              bits(row).every((b) => b === 0),
              `batch ${n}, row ${i}: +0 everywhere`,
            );
        }
      });
    }
  });
});

test('backwards through one graph with zero rows, the same rows or others, each give the whole batch its gradient', { skip }, () => {
  const g = new Generator(10);
  const net = smallCnn(g);
  withFoldedBatchNorm(net, () =>
    scope(() => {
      const n = 12;
      const x = rand([n, 1, 28, 28], { generator: g }).requiresGrad_(true);
      const y = withStack(true, 1, 'forward', () => enableGrad(() => net.forward(x)));
      const masks = [[0, 1, 5], [0, 1, 5], [2, 3, 4, 11], []].map((zero) =>
        tensor(
          Float32Array.from({ length: n }, (_, i) => (zero.includes(i) ? 0 : 1)),
          { shape: [n, 1] },
        ),
      );
      masks.forEach((mask, k) => {
        const up = randn([n, 32 * 7 * 7], { generator: g });
        const some = grad(y, x, { gradOutputs: [up.mul(mask)], retainGraph: true })[0]!;
        const whole = grad(y, x, { gradOutputs: [up], retainGraph: k < masks.length - 1 })[0]!;
        assertSame(some, whole.mul(mask.view([n, 1, 1, 1])).add(0), `backward ${k}`);
      });
    }),
  );
});

test('other stacks (3 and 17 input channels, kernel 5, padding 0, no bias, no ReLU, pooling 3) equal the layers bit for bit', {
  skip,
}, () => {
  const g = new Generator(6);
  const nets = [
    new Sequential(
      new Conv2d(3, 16, 3, { padding: 1, generator: g }),
      new ReLU(),
      new Conv2d(16, 32, 3, { padding: 1, generator: g }),
      new ReLU(),
      new MaxPool2d(2),
    ),
    new Sequential(
      new Conv2d(17, 16, 5, { padding: 2, bias: false, generator: g }),
      new MaxPool2d(3),
      new Conv2d(16, 16, 3, { generator: g }),
      new ReLU(),
    ),
    new Sequential(
      new Conv2d(1, 8, 3, { generator: g }),
      new Conv2d(8, 16, 3, { padding: 1, generator: g }),
      new ReLU(),
      new Flatten(),
      new Linear(16 * 10 * 10, 4, { generator: g }),
    ),
  ].map(frozen);
  const inputs = [
    [4, 3, 16, 16],
    [3, 17, 15, 15],
    [5, 1, 12, 12],
  ];
  nets.forEach((net, k) => {
    scope(() => {
      const x = randn(inputs[k]!, { generator: g });
      const a = run(net, x, (y) => randn(y.shape, { generator: new Generator(k) }), true);
      const b = run(net, x, (y) => randn(y.shape, { generator: new Generator(k) }), false);
      assertSame(a.plain, b.plain, `stack ${k}: forward`);
      assertSame(a.gx, b.gx, `stack ${k}: input gradient`);
    });
  });
});

test("a gradient of the input gradient (create_graph) through the stack equals the layers'", { skip }, () => {
  const g = new Generator(7);
  const net = frozen(
    new Sequential(
      new Conv2d(2, 16, 3, { padding: 1, generator: g }),
      new ReLU(),
      new Conv2d(16, 16, 3, { padding: 1, generator: g }),
      new ReLU(),
      new MaxPool2d(2),
    ),
  );
  const second = (stack: boolean) =>
    scope(() =>
      withStack(stack, 1, 'create_graph', () => {
        const x = randn([3, 2, 8, 8], { generator: new Generator(1) }).requiresGrad_(true);
        const gx = enableGrad(() => grad(net.forward(x).square().sum(), x, { createGraph: true })[0]!);
        return bits(
          grad(
            enableGrad(() => gx.square().sum()),
            x,
          )[0]!,
        );
      }),
    );
  assert.deepEqual(second(true), second(false));
});

test("whole models (small-cnn, VGG-11 with and without the fake ReLU): logits and input gradients equal the layers' bit for bit", {
  skip,
}, () => {
  const g = new Generator(10);
  for (const [arch, shape] of [
    ['small-cnn', [1, 28, 28]],
    ['vgg11', [3, 32, 32]],
  ] as const) {
    const model = createModel({ arch, inputShape: [...shape], numClasses: 10, width: 0.25 }, { generator: g }).eval();
    for (const p of model.parameters()) p.requiresGrad_(false);
    for (const fakeRelu of [false, true]) {
      const once = (stack: boolean) =>
        scope(() =>
          withStack(stack, 1, arch, () =>
            withFoldedBatchNorm(model, () => {
              const x = rand([3, ...shape], { generator: new Generator(2) }).requiresGrad_(true);
              const logits = enableGrad(() => model.forward(x, { fakeRelu }).logits);
              return [bits(logits), bits(grad(logits.select(1, 3).sum(), x)[0]!)];
            }),
          ),
        );
      assert.deepEqual(once(true), once(false), `${arch}, fakeRelu ${fakeRelu}`);
    }
  }
});

test('the layers run one by one where the stack cannot: one input, weights wanting gradients, autocast, batch norm not folded', {
  skip,
}, () => {
  const g = new Generator(8);
  const layers = () => [
    new Conv2d(1, 16, 3, { padding: 1, generator: g }),
    new ReLU(),
    new Conv2d(16, 16, 3, { padding: 1, generator: g }),
    new ReLU(),
  ];
  scope(() => {
    const x = rand([4, 1, 10, 10], { generator: g });
    const train = new Sequential(...layers());
    assert.match(
      convStackUnsupported(x, [
        { kind: 'conv', kernel: 3, padding: 1, relu: true, weight: train.layers[0]!.parameters()[0]!, bias: null },
      ]) ?? '',
      /wants a gradient/,
    );
    const net = frozen(new Sequential(...layers()));
    // no error, the layers' path, and the same answer as with the stack off
    for (const [name, f] of [
      ['one input', () => net.forward(x.narrow(0, 0, 1))],
      ['autocast', () => autocast('cpu', 'bfloat16', () => net.forward(x))],
      ['training weights', () => enableGrad(() => train.forward(x))],
    ] as const) {
      const before = convStackRuns();
      const a = f();
      assert.equal(convStackRuns(), before, `${name}: the stack ran`);
      const was = setConvStackEnabled(false);
      const b = f();
      setConvStackEnabled(was);
      assertSame(a.float(), b.float(), name);
    }
    const bn = frozen(
      new Sequential(new Conv2d(1, 4, 3, { generator: g }), new BatchNorm2d(4), new ReLU(), new Conv2d(4, 4, 3, { generator: g })),
    );
    const before = convStackRuns();
    bn.forward(x);
    assert.equal(convStackRuns(), before, 'batch norm not folded: the stack ran');
  });
});

test("the blocked stack gives the stack's values in any layout, from plain or blocked inputs", { skip }, () => {
  const g = new Generator(12);
  scope(() =>
    noGrad(() => {
      const conv = (i: number, o: number, padding: number): ConvStackLayer => ({
        kind: 'conv',
        kernel: 3,
        padding,
        relu: true,
        weight: randn([o, i, 3, 3], { generator: g }).mul(0.3),
        bias: randn([o], { generator: g }),
      });
      const first = [conv(1, 16, 1), conv(16, 32, 1)];
      const second: ConvStackLayer[] = [{ kind: 'pool', kernel: 2 }, conv(32, 32, 0)];
      const x = rand([3, 1, 12, 12], { generator: g });
      const whole = convStack(x, [...first, ...second]);
      for (const block of [-1, 0, 8, 16]) {
        const h = convStackBlocked(x, first, block);
        if (block === 0) assert.equal(h.ndim, 4);
        if (block > 0) assert.deepEqual(h.shape, [3, 32 / block, 12, 12, block]);
        assertSame(unblocked(h), convStack(x, first), `first part, block ${block}`);
        for (const next of [-1, 0, 16]) assertSame(unblocked(convStackBlocked(h, second, next)), whole, `block ${block} then ${next}`);
      }
      assert.throws(() => convStackBlocked(x, first, 12), /block must be 0, 8 or 16/);
      assert.throws(() => convStackBlocked(x, [conv(1, 4, 1)], 16), /divide the output's channels/);
      assert.throws(() => convStackBlocked(rand([3, 2, 12, 12, 4]), second, 0), /block must be 8 or 16/);
      assert.throws(() => convStackBlocked(rand([3, 2, 12, 12, 16]), [conv(16, 16, 1)], 0), /does not fit/);
      assert.throws(() => autocast('cpu', 'bfloat16', () => convStackBlocked(x, first, 0)), /autocast/);
    }),
  );
  scope(() => {
    const x = rand([2, 1, 6, 6]).requiresGrad_(true);
    const w = randn([16, 1, 3, 3]);
    assert.throws(
      () => enableGrad(() => convStackBlocked(x, [{ kind: 'conv', kernel: 3, padding: 1, relu: false, weight: w, bias: null }], 0)),
      /no gradient/,
    );
  });
});

test('bad layer lists are JS errors', { skip }, () => {
  scope(() => {
    const x = rand([2, 1, 6, 6]);
    const w = randn([4, 1, 3, 3]);
    const conv = (kernel: number, padding: number) => ({ kind: 'conv' as const, kernel, padding, relu: false, weight: w, bias: null });
    assert.throws(() => convStack(x, []), /no layers/);
    assert.throws(() => convStack(x, [{ kind: 'dense', kernel: 3 } as never]), /kind must be/);
    assert.throws(() => convStack(x, [conv(1.5, 0)]), /kernel/);
    assert.throws(() => convStack(x, [conv(5, 1)]), /does not fit/);
    assert.throws(() => convStack(x, [{ kind: 'pool', kernel: 4 }]), /does not tile/);
    assert.throws(() => convStack(rand([2, 3, 6, 6]), [conv(3, 1)]), /does not fit/);
    // a later layer with 1 to 3 channels would take another input gradient than conv2d's
    const narrow = { kind: 'conv' as const, kernel: 3, padding: 1, relu: false, weight: randn([1, 4, 3, 3]), bias: null };
    assert.match(
      convStackUnsupported(x, [{ ...conv(3, 1), relu: true }, narrow, { ...narrow, weight: randn([2, 1, 3, 3]) }]) ?? '',
      /after the first/,
    );
  });
});

test('the stack leaves no tensor behind', { skip }, () => {
  const g = new Generator(9);
  const net = smallCnn(g);
  const before = liveTensors();
  withFoldedBatchNorm(net, () =>
    scope(() => {
      const x = rand([4, 1, 28, 28], { generator: g });
      run(net, x, (y) => y.mul(0).add(1), true);
    }),
  );
  assert.equal(liveTensors(), before);
});
