// The training methods do what they are named for: PGD training backpropagates adversarial
// examples inside the budget, the sensitivity method adds delta1 * T1 + delta2 * T2 to the loss
// (its step's gradient against python3-torch, fixtures/generate_regularizer.py), and a short
// run of each method learns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Modules, not src/index.ts: only training, the zoo and the tensors are needed.
import { Generator, noGrad, scope, type Tensor } from '../../src/tensor/index.js';
import { loadSafetensors } from '../../src/serialization/safetensors.js';
import { createModel } from '../../src/models/zoo.js';
import type { ImageClassifier } from '../../src/models/classifier.js';
import * as F from '../../src/nn/functional.js';
import { SGD } from '../../src/optim/optimizer.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { sampleNorms } from '../../src/attacks/budget.js';
import { adversarialBatch, trainStep, type StepContext } from '../../src/training/trainStep.js';
import { modelFor, train } from '../../src/training/train.js';
import { DEFAULTS, type MethodName, type TrainConfig } from '../../src/training/config.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** max |a - b| / max |b| over two equally shaped tensors. */
function relErr(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const [x, y] = [a.toFloat32Array(), b.toFloat32Array()];
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i]! - y[i]!));
    den = Math.max(den, Math.abs(y[i]!));
  }
  return den === 0 ? num : num / den;
}

/** One step of `config`'s method on (images, labels); returns the parameter gradients it applied. */
function stepGradients(
  model: ImageClassifier,
  config: TrainConfig,
  images: Tensor,
  labels: Tensor,
): { grads: Map<string, Tensor>; loss: number } {
  const named = model.namedParameters();
  const grads = new Map<string, Tensor>();
  const ctx: StepContext = {
    model,
    opt: new SGD(model.parameters(), { lr: 0.01 }),
    config,
    device: 'cpu',
    half: null,
    scaler: null,
    // between backward and the optimizer step: the gradient the step applies
    afterBackward: () => {
      for (const [k, p] of named) grads.set(k, p.grad!.clone().keep());
    },
  };
  model.train();
  const r = trainStep(ctx, { images, labels, indices: Array.from({ length: images.shape[0]! }, (_, i) => i) }, 0);
  return { grads, loss: r!.loss.item() };
}

function referenceGradients(model: ImageClassifier, images: Tensor, labels: Tensor): Map<string, Tensor> {
  model.train();
  model.zeroGrad();
  F.crossEntropy(model.forward(images).logits, labels).backward();
  const out = new Map(model.namedParameters().map(([k, p]) => [k, p.grad!.clone().keep()] as [string, Tensor]));
  model.zeroGrad();
  return out;
}

const base = (method: MethodName): TrainConfig => ({
  ...DEFAULTS['fashion-mnist']!,
  method,
  dataset: 'fashion-mnist',
  width: 0.125,
  seed: 3,
  validation: { eps: 0.3, steps: 1, limit: 0 },
});

test("--method sensitivity: the step's gradient is that of cross-entropy + delta1 T1 + delta2 T2 (python3-torch), not of cross-entropy alone", () => {
  const { tensors, metadata } = loadSafetensors(join(ROOT, 'fixtures', 'regularizer.safetensors'));
  const meta = JSON.parse(metadata.json!);
  const fx = (k: string): Tensor => {
    const t = tensors.get(k);
    if (!t) throw new Error(`regularizer.safetensors has no ${k}`);
    return t;
  };
  const s = meta.step;
  const model = createModel({ arch: s.arch, inputShape: s.inputShape, numClasses: s.classes, width: s.width, batchNorm: s.batchNorm });
  try {
    scope(() => {
      const state = new Map<string, Tensor>();
      for (const [k, t] of tensors) if (k.startsWith('step.state.')) state.set(k.slice('step.state.'.length), t);
      model.loadStateDict(state);
      const regularized: TrainConfig = { ...base('sensitivity'), regularizer: { topK: s.topK, delta1: meta.delta1, delta2: meta.delta2 } };
      const x = fx('step.x');
      const y = fx('step.y');
      // the step is taken on a copy of the state each time: SGD moves the weights
      const fresh = () => model.loadStateDict(state);
      fresh();
      const reg = stepGradients(model, regularized, x, y);
      fresh();
      const plain = stepGradients(model, base('standard'), x, y);
      fresh();
      const total = fx('step.loss_total').item();
      assert.ok(Math.abs(reg.loss - total) <= 1e-5 * total, `loss ${reg.loss} vs ${total}`);
      const ce = fx('step.loss_ce').item();
      assert.ok(Math.abs(plain.loss - ce) <= 1e-5 * ce, `standard loss ${plain.loss} vs ${ce}`);
      assert.equal(reg.grads.size, model.namedParameters().length);
      // float32 here against float64 there: 1e-4 of each tensor's largest entry
      for (const [k, g] of reg.grads) {
        const want = fx(`step.grad_total.${k}`);
        const e = relErr(g, want);
        assert.ok(e <= 1e-4, `${k}: relative error ${e} against the regularized reference`);
        const ePlain = relErr(plain.grads.get(k)!, fx(`step.grad_ce.${k}`));
        assert.ok(ePlain <= 1e-4, `${k}: --method standard, relative error ${ePlain} against cross-entropy alone`);
      }
      // the regularizer moves every layer's gradient far beyond that tolerance
      for (const k of ['classifier.weight', 'fc.weight', 'features.0.weight']) {
        const apart = relErr(fx(`step.grad_ce.${k}`), fx(`step.grad_total.${k}`));
        assert.ok(apart > 0.05, `${k}: the regularized and plain gradients differ (${apart})`);
      }
      for (const g of [...reg.grads.values(), ...plain.grads.values()]) g.dispose();
    });
  } finally {
    model.dispose();
    for (const t of tensors.values()) t.dispose();
  }
});

test('--method pgd: the step backpropagates PGD examples inside the budget, not the clean batch', () => {
  const ds = loadFashionMnist('test');
  const b = ds.loadSync(Array.from({ length: 16 }, (_, i) => i));
  const make = () =>
    createModel(
      { arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.125, batchNorm: false, normalization: ds.normalization },
      { generator: new Generator(11) },
    );
  try {
    for (const [norm, eps] of [
      ['linf', 0.1],
      ['l2', 1.5],
    ] as const) {
      const config: TrainConfig = { ...base('pgd'), adversarial: { norm, eps, steps: 3 } };
      // two copies of one model: one takes the step, the other gives the references
      const [stepped, ref] = [make(), make()];
      try {
        scope(() => {
          // the examples the step crafts (seeded by the run's seed and the epoch): made here
          // from the same weights, they must lie in the budget around the clean batch
          const adv = adversarialBatch(ref, { images: b.images, labels: b.labels, indices: b.indices }, config, 0);
          const d = sampleNorms(adv.sub(b.images), norm).toNumbers();
          assert.ok(
            d.every((v) => v > 0 && v <= eps * (1 + 1e-5)),
            `${norm}: perturbation norms ${d}`,
          );
          assert.ok(adv.min().item() >= 0 && adv.max().item() <= 1);
          const { grads } = stepGradients(stepped, config, b.images, b.labels);
          const onAdv = referenceGradients(ref, adv, b.labels);
          const onClean = referenceGradients(ref, b.images, b.labels);
          for (const [k, g] of grads) {
            const e = relErr(g, onAdv.get(k)!);
            assert.ok(e <= 1e-5, `${norm} ${k}: the step's gradient is not the adversarial batch's (relative error ${e})`);
          }
          const apart = relErr(onClean.get('classifier.weight')!, onAdv.get('classifier.weight')!);
          assert.ok(apart > 1e-2, `${norm}: clean and adversarial gradients differ (${apart})`);
          for (const m of [grads, onAdv, onClean]) for (const g of m.values()) g.dispose();
        });
      } finally {
        stepped.dispose();
        ref.dispose();
      }
    }
  } finally {
    b.images.dispose();
    b.labels.dispose();
  }
});

test("each method learns: 48 steps on 512 Fashion-MNIST images lower the loss and lift test accuracy far above the untrained model's", async () => {
  const root = mkdtempSync(join(tmpdir(), 'sauron-methods-learn-'));
  const testSet = loadFashionMnist('test');
  const testBatch = testSet.loadSync(Array.from({ length: 256 }, (_, i) => i));
  try {
    const settings: Record<MethodName, Partial<TrainConfig>> = {
      standard: {},
      pgd: { adversarial: { norm: 'l2', eps: 0.3, steps: 2 } },
      sensitivity: { regularizer: { topK: 8, delta1: 1, delta2: 10 } },
    };
    for (const [method, extra] of Object.entries(settings) as [MethodName, Partial<TrainConfig>][]) {
      const config: TrainConfig = { ...base(method), ...extra, epochs: 3, batchSize: 32, limit: 512, testLimit: 256 };
      // the run's own initial weights, on the same test images
      const initial = modelFor(config, testSet);
      const chance = scope(() =>
        noGrad(() => initial.eval().forward(testBatch.images).logits.argmax(1).eq(testBatch.labels).float().mean().item()),
      );
      initial.dispose();
      const r = await train(config, { out: join(root, method) });
      const m = r.metrics;
      assert.equal(m.length, 3);
      assert.ok(m[2]!.loss < 0.8 * m[0]!.loss, `${method}: loss per epoch ${m.map((e) => e.loss)}`);
      assert.ok(m[2]!.trainAccuracy > m[0]!.trainAccuracy, `${method}: train accuracy per epoch ${m.map((e) => e.trainAccuracy)}`);
      // (on the CPU: 0.34-0.35 after the first epoch, 0.58-0.63 after the third; untrained 0.08)
      assert.ok(
        m[2]!.testAccuracy >= 0.45 && m[2]!.testAccuracy > chance + 0.3,
        `${method}: test accuracy ${m[2]!.testAccuracy} (untrained ${chance})`,
      );
    }
  } finally {
    testBatch.images.dispose();
    testBatch.labels.dispose();
    rmSync(root, { recursive: true, force: true });
  }
});
