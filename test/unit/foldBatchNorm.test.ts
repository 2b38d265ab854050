// Batch norm folded into the convolutions for attacks (src/nn/foldBatchNorm.ts): the same
// function up to rounding for every architecture, parameters untouched, training mode and
// errors leave the model as it was, and attacks with and without folding agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, Generator, noGrad, scope, type ImageClassifier } from '../../src/index.js';
import { grad, rand, randint } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { convBatchNormPairs, withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';
import { pgdAttack } from '../../src/attacks/pgd.js';
import { relErr } from '../support/helpers.js';

function withStats(m: ImageClassifier, g: Generator): ImageClassifier {
  noGrad(() => {
    for (const [name, t] of m.namedBuffers()) {
      if (name.endsWith('running_mean')) t.copy_(rand(t.shape, { generator: g }).sub(0.5));
      if (name.endsWith('running_var')) t.copy_(rand(t.shape, { generator: g }).add(0.5));
    }
    for (const [name, t] of m.namedParameters())
      if (/bn\d*\.weight$|\.\d+\.weight$/.test(name) && t.ndim === 1) t.copy_(rand(t.shape, { generator: g }).add(0.5));
  });
  return m.eval();
}

const CASES = [
  { arch: 'small-cnn', input: [1, 28, 28] as [number, number, number], pairs: 4 },
  { arch: 'vgg11', input: [3, 32, 32] as [number, number, number], pairs: 8 },
  // stem, two per basic block, three shortcuts
  { arch: 'resnet18', input: [3, 32, 32] as [number, number, number], pairs: 1 + 16 + 3 },
  { arch: 'resnet50-imagenet', input: [3, 64, 64] as [number, number, number], pairs: 1 + 48 + 4 },
];

for (const c of CASES) {
  test(`${c.arch}: folding every conv + batch norm pair gives the same logits, features and input gradient (float32 rounding)`, () => {
    const g = new Generator(3);
    const m = withStats(createModel({ arch: c.arch, inputShape: c.input, numClasses: 10, width: 0.25 }, { generator: g }), g);
    try {
      scope(() => {
        assert.equal(convBatchNormPairs(m).length, c.pairs);
        const before = m.stateDict();
        const snapshot = new Map([...before].map(([k, t]) => [k, t.clone()]));
        const x = rand([4, ...c.input], { generator: g });
        const y = randint(0, 10, [4], { generator: g });
        const run = () => {
          const xi = x.detach().requiresGrad_();
          const out = m.forward(xi, { fakeRelu: true });
          const [gx] = grad(F.crossEntropy(out.logits, y), xi);
          return { logits: out.logits.detach(), features: out.features.detach(), gx: gx! };
        };
        const plain = run();
        let seen = 0;
        const folded = withFoldedBatchNorm(m, () => {
          seen = convBatchNormPairs(m).filter(([conv, bn]) => conv.folded && bn.folded).length;
          return run();
        });
        assert.equal(seen, c.pairs);
        for (const k of ['logits', 'features', 'gx'] as const) {
          const e = relErr(folded[k], plain[k]);
          assert.ok(e < 1e-5, `${k}: relative error ${e}`);
        }
        // restored, parameters and buffers never written
        assert.ok(convBatchNormPairs(m).every(([conv, bn]) => !conv.folded && !bn.folded));
        for (const [k, t] of m.stateDict()) assert.equal(t.sub(snapshot.get(k)!).abs().max().item(), 0, k);
      });
    } finally {
      m.dispose();
    }
  });
}

test('no folding in training mode (batch statistics), and the model is restored when the work throws', () => {
  const g = new Generator(4);
  const m = withStats(createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 }, { generator: g }), g);
  try {
    m.train();
    withFoldedBatchNorm(m, () => assert.ok(convBatchNormPairs(m).every(([conv, bn]) => !conv.folded && !bn.folded)));
    m.eval();
    assert.throws(
      () =>
        withFoldedBatchNorm(m, () => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.ok(convBatchNormPairs(m).every(([conv, bn]) => !conv.folded && !bn.folded));
    const noBn = createModel(
      { arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25, batchNorm: false },
      { generator: g },
    );
    assert.equal(convBatchNormPairs(noBn).length, 0);
    assert.equal(
      withFoldedBatchNorm(noBn, () => 7),
      7,
    );
    noBn.dispose();
  } finally {
    m.dispose();
  }
});

test('PGD with batch norm folded (the default) and unfolded: same success on every input, examples inside the budget', () => {
  const g = new Generator(5);
  const m = withStats(createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 }, { generator: g }), g);
  try {
    scope(() => {
      const batch = {
        images: rand([24, 1, 28, 28], { generator: g }),
        labels: randint(0, 10, [24], { generator: g }),
        indices: Array.from({ length: 24 }, (_, i) => i),
      };
      const cfg = { norm: 'l2' as const, eps: 1, iterations: 10, restarts: 2, randomStart: true, seed: 0 };
      const folded = pgdAttack(m, batch, cfg);
      const plain = pgdAttack(m, batch, { ...cfg, foldBatchNorm: false });
      assert.deepEqual(
        folded.records.map((r) => r.success),
        plain.records.map((r) => r.success),
      );
      assert.ok(folded.records.some((r) => r.success) && folded.records.some((r) => !r.success), 'a mix of outcomes');
      for (const r of folded.records) assert.ok(r.l2 <= 1 + 1e-5, `l2 ${r.l2}`);
    });
  } finally {
    m.dispose();
  }
});
