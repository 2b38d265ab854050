// The model zoo: one interface, PyTorch key names, fake ReLU, saving and loading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, ARCHITECTURES, scope, Generator, saveModel, loadModel, noGrad, readManifest } from '../../src/index.js';
import { rand, grad } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';

const SMALL: Record<string, { shape: [number, number, number]; width: number; featureDim: number }> = {
  vgg11: { shape: [3, 32, 32], width: 1 / 16, featureDim: 32 },
  vgg13: { shape: [3, 32, 32], width: 1 / 16, featureDim: 32 },
  vgg16: { shape: [3, 32, 32], width: 1 / 16, featureDim: 32 },
  vgg19: { shape: [3, 32, 32], width: 1 / 16, featureDim: 32 },
  resnet18: { shape: [3, 16, 16], width: 1 / 16, featureDim: 32 },
  'resnet18-imagenet': { shape: [3, 64, 64], width: 1 / 16, featureDim: 32 },
  resnet34: { shape: [3, 16, 16], width: 1 / 16, featureDim: 32 },
  'resnet34-imagenet': { shape: [3, 64, 64], width: 1 / 16, featureDim: 32 },
  resnet50: { shape: [3, 16, 16], width: 1 / 16, featureDim: 128 },
  'resnet50-imagenet': { shape: [3, 64, 64], width: 1 / 16, featureDim: 128 },
  'small-cnn': { shape: [1, 28, 28], width: 0.25, featureDim: 64 },
};

test('every architecture in the zoo is covered here', () => {
  assert.deepEqual([...ARCHITECTURES].sort(), Object.keys(SMALL).sort());
});

for (const arch of ARCHITECTURES) {
  const spec = SMALL[arch]!;
  test(`${arch}: { logits, features } with features >= 0 and a Linear classifier [classes, features]`, () => {
    const model = createModel({ arch, inputShape: spec.shape, numClasses: 7, width: spec.width }, { generator: new Generator(1) });
    try {
      scope(() => {
        model.eval();
        const x = rand([3, ...spec.shape], { generator: new Generator(2) });
        const { logits, features } = model.forward(x);
        assert.deepEqual(logits.shape, [3, 7]);
        assert.deepEqual(features.shape, [3, spec.featureDim]);
        assert.equal(model.featureDim, spec.featureDim);
        assert.ok(features.min().item() >= 0, 'features come after a ReLU');
        assert.deepEqual(model.classifier.weight.shape, [7, spec.featureDim]);
        // logits are exactly the classifier applied to the features
        const again = model.logitsFromFeatures(features);
        assert.ok(again.sub(logits).abs().max().item() < 1e-5);
        const keys = [...model.stateDict().keys()];
        assert.ok(keys.includes('classifier.weight') && keys.includes('classifier.bias'));
        if (arch.startsWith('vgg')) assert.ok(keys.includes('features.0.weight') && keys.includes('features.1.running_var'));
        if (arch === 'resnet18') assert.ok(keys.includes('layer2.0.shortcut.0.weight'), 'CIFAR layout names shortcuts as robustness does');
        if (arch === 'resnet18-imagenet')
          assert.ok(keys.includes('layer2.0.downsample.0.weight'), 'ImageNet layout uses torchvision names');
      });
    } finally {
      model.dispose();
    }
  });
}

test('fake ReLU: same forward values, gradient reaches features the ReLU zeroed', () => {
  const model = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 }, { generator: new Generator(3) });
  try {
    scope(() => {
      model.eval();
      const x = rand([4, 1, 28, 28], { generator: new Generator(4) });
      const real = model.forward(x);
      const fake = model.forward(x, { fakeRelu: true });
      assert.equal(real.features.sub(fake.features).abs().max().item(), 0);
      const dead = real.features.eq(0);
      assert.ok(dead.sum().item() > 0, 'some features are zero');
      // d(sum of features)/d(features before the ReLU) is 0 on dead units for the real ReLU;
      // with the fake one the input gradient is different (it flows through dead units too)
      const xa = x.detach().requiresGrad_();
      const xb = x.detach().requiresGrad_();
      const [ga] = grad(model.forward(xa).features.sum(), xa);
      const [gb] = grad(model.forward(xb, { fakeRelu: true }).features.sum(), xb);
      assert.ok(ga!.sub(gb!).abs().max().item() > 1e-6);
    });
  } finally {
    model.dispose();
  }
});

test('channels-last layout: the same logits and input gradients, parameters keep their identity', () => {
  for (const arch of ['small-cnn', 'vgg11', 'resnet18']) {
    const { shape, width } = SMALL[arch]!;
    const a = createModel({ arch, inputShape: shape, numClasses: 10, width }, { generator: new Generator(5) });
    const b = createModel({ arch, inputShape: shape, numClasses: 10, width }, { generator: new Generator(5) });
    try {
      scope(() => {
        a.eval();
        b.eval();
        const params = b.parameters();
        b.toMemoryFormat('channels_last');
        assert.ok(
          b.parameters().every((p, i) => p === params[i]),
          'same parameter objects',
        );
        const conv = b.parameters().find((p) => p.ndim === 4 && p.shape[1]! > 1)!;
        assert.equal(conv.stride(1), 1, `${arch}: a conv weight is laid out channels-last`);
        const x = rand([3, ...shape], { generator: new Generator(6) });
        const xa = x.detach().requiresGrad_();
        const xb = x.contiguous('channels_last').detach().requiresGrad_();
        if (shape[0] > 1) assert.equal(xb.stride(1), 1);
        const la = a.forward(xa).logits;
        const lb = b.forward(xb).logits;
        assert.ok(la.sub(lb).abs().max().item() < 1e-4, arch);
        const [ga] = grad(F.crossEntropy(la, la.argmax(1)), xa);
        const [gb] = grad(F.crossEntropy(lb, lb.argmax(1)), xb);
        assert.ok(ga!.sub(gb!).abs().max().item() < 1e-4 * Math.max(1, ga!.abs().max().item()), arch);
      });
    } finally {
      a.dispose();
      b.dispose();
    }
  }
});

test('width multiplier scales channels; the same seed gives the same weights', () => {
  const a = createModel({ arch: 'vgg11', inputShape: [3, 32, 32], numClasses: 10, width: 0.25 }, { generator: new Generator(5) });
  const b = createModel({ arch: 'vgg11', inputShape: [3, 32, 32], numClasses: 10, width: 0.25 }, { generator: new Generator(5) });
  const c = createModel({ arch: 'vgg11', inputShape: [3, 32, 32], numClasses: 10, width: 0.5 }, { generator: new Generator(5) });
  try {
    assert.equal(a.featureDim, 128);
    assert.equal(c.featureDim, 256);
    assert.ok(c.parameterCount() > 3 * a.parameterCount());
    assert.deepEqual(a.classifier.weight.toArray(), b.classifier.weight.toArray());
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
});

test('train mode updates batch-norm statistics, eval mode does not', () => {
  const m = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 });
  try {
    scope(() => {
      const x = rand([4, 1, 28, 28]);
      const rm = m.stateDict().get('features.1.running_mean')!;
      const nb = m.stateDict().get('features.1.num_batches_tracked')!;
      const before = rm.clone();
      m.eval();
      noGrad(() => m.forward(x));
      assert.equal(rm.sub(before).abs().max().item(), 0);
      assert.equal(nb.item(), 0);
      m.train();
      noGrad(() => m.forward(x));
      assert.ok(rm.sub(before).abs().max().item() > 0);
      assert.equal(nb.item(), 1);
      assert.equal(nb.dtype, 'int64');
    });
  } finally {
    m.dispose();
  }
});

test('saveModel / loadModel round-trip gives identical predictions; bad folders are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-model-'));
  const norm = { mean: [0.286], std: [0.353] };
  const m = createModel(
    { arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25, normalization: norm },
    { generator: new Generator(6) },
  );
  try {
    scope(() => {
      // move BN statistics away from their initial values so buffers are really saved
      m.train();
      noGrad(() => m.forward(rand([8, 1, 28, 28])));
      m.eval();
      saveModel(dir, m, { dataset: 'fashion-mnist' });
      const manifest = readManifest(dir);
      assert.equal(manifest.arch, 'small-cnn');
      assert.equal(manifest.featureDim, 64);
      assert.deepEqual(manifest.normalization, norm);
      assert.equal(manifest.dataset, 'fashion-mnist');
      const { model: m2 } = loadModel(dir);
      try {
        m2.eval();
        const x = rand([5, 1, 28, 28]);
        assert.deepEqual(m2.forward(x).logits.toArray(), m.forward(x).logits.toArray());
        assert.ok(F.crossEntropy(m2.forward(x).logits, m.forward(x).logits.argmax(1)).item() >= 0);
      } finally {
        m2.dispose();
      }
    });
    writeFileSync(join(dir, 'model.json'), '{ not json');
    assert.throws(() => loadModel(dir), /not valid JSON/);
    assert.throws(() => loadModel(join(dir, 'nope')), /not a Sauron model folder/);
  } finally {
    m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
