// Attacks: budgets and [0, 1] on the output, per-sample L2 steps, zero gradients, restarts,
// agreement with an independent python3-torch PGD, k-NS on a trained model, the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, saveModel, scope, Generator, type Tensor, type ImageClassifier } from '../../src/index.js';
import { rand, randint, setNumThreads, getNumThreads, tensor, zeros, getDefaultDevice } from '../../src/tensor/index.js';
import { loadSafetensors, loadNpy } from '../../src/serialization/index.js';
import { pgdAttack, type PgdConfig } from '../../src/attacks/pgd.js';
import { knsAttack } from '../../src/attacks/kns.js';
import { delta } from '../../src/analysis/delta.js';
import { rankNeurons, scaleDeltas } from '../../src/analysis/scaled.js';
import { defaultFakeRelu, resolveFakeRelu } from '../../src/attacks/defaults.js';
import { runAttack } from '../../src/experiments/attackRun.js';
import { readAttackResults, targetSplit } from '../../src/experiments/attackResults.js';
import { attackResultsPath } from '../../src/experiments/attackFolder.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { project, stepAlong, sampleNorms, randomStart, type Norm } from '../../src/attacks/budget.js';
import { train } from '../../src/training/train.js';
import { DEFAULTS } from '../../src/training/config.js';
import { featureStats } from '../../src/analysis/featureStats.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { subset } from '../../src/data/registry.js';
import { ROOT, relErr } from '../support/helpers.js';
import { sauron } from '../support/cli.js';

// Models go to the default device (SAURON_DEFAULT_DEVICE=cuda in scripts/gpu-check.sh), so inputs
// drawn or loaded on the CPU follow them there: the same values on any device.
const DEVICE = getDefaultDevice();

function randomModel(seed: number): ImageClassifier {
  return createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 }, { generator: new Generator(seed) });
}

function batch(n: number, seed: number) {
  const g = new Generator(seed);
  return {
    images: rand([n, 1, 28, 28], { generator: g }).to(DEVICE),
    labels: randint(0, 10, [n], { generator: g }).to(DEVICE),
    indices: Array.from({ length: n }, (_, i) => i),
  };
}

/** A loaded batch on the models' device (the loader's tensors are the CPU's; these are disposed by the caller). */
function onDevice<B extends { images: Tensor; labels: Tensor }>(b: B): B {
  if (b.images.device === DEVICE) return b;
  const moved = { ...b, images: b.images.to(DEVICE).keep(), labels: b.labels.to(DEVICE).keep() };
  b.images.dispose();
  b.labels.dispose();
  return moved;
}

test('PGD outputs stay inside the budget and [0, 1] for L2 and Linf (random model)', () => {
  const m = randomModel(1);
  try {
    scope(() => {
      const b = batch(8, 2);
      for (const norm of ['l2', 'linf'] as Norm[]) {
        const eps = norm === 'l2' ? 2 : 0.1;
        const out = pgdAttack(m, b, { norm, eps, iterations: 5, restarts: 2, randomStart: true, seed: 0 });
        const d = sampleNorms(out.adversarial.sub(b.images), norm).toNumbers();
        assert.ok(
          d.every((v) => v <= eps * (1 + 1e-5)),
          `${norm}: ${d}`,
        );
        assert.ok(out.adversarial.min().item() >= 0 && out.adversarial.max().item() <= 1);
        for (const r of out.records) assert.ok((norm === 'l2' ? r.l2 : r.linf) <= eps * (1 + 1e-5));
      }
    });
  } finally {
    m.dispose();
  }
});

test('L2 steps and projections are per sample; a zero gradient gives no NaN', () => {
  scope(() => {
    const x0 = zeros([2, 1, 2, 2]).add(0.5);
    // row 0 has a huge gradient, row 1 a tiny one: each moves by exactly the step size
    const g = tensor(new Float32Array([100, 0, 0, 0, 0, 1e-3, 0, 0]), { shape: [2, 1, 2, 2] });
    const moved = stepAlong(x0, g, 'l2', 0.1).sub(x0);
    const n = sampleNorms(moved, 'l2').toNumbers();
    assert.ok(Math.abs(n[0]! - 0.1) < 1e-6 && Math.abs(n[1]! - 0.1) < 1e-6, `${n}`);
    // projection shrinks only the row that leaves the ball
    const far = x0.add(tensor(new Float32Array([0.4, 0, 0, 0, 0.05, 0, 0, 0]), { shape: [2, 1, 2, 2] }));
    const p = sampleNorms(project(far, x0, 'l2', 0.1).sub(x0), 'l2').toNumbers();
    assert.ok(Math.abs(p[0]! - 0.1) < 1e-5 && Math.abs(p[1]! - 0.05) < 1e-6, `${p}`);
    const still = stepAlong(x0, zeros([2, 1, 2, 2]), 'l2', 0.1);
    assert.equal(still.isnan().any().item(), 0);
    assert.equal(
      stepAlong(x0, zeros([2, 1, 2, 2]), 'linf', 0.1)
        .isnan()
        .any()
        .item(),
      0,
    );
    const rs = randomStart(x0, 'l2', 0.1, [new Generator(1), new Generator(2)]);
    const rn = sampleNorms(rs.sub(x0), 'l2').toNumbers();
    assert.ok(rn.every((v) => v <= 0.1 + 1e-6));
  });
});

test('more restarts never lower the success rate for the same seed; batch size does not change results', () => {
  const m = randomModel(3);
  try {
    scope(() => {
      const b = batch(24, 4);
      const base: PgdConfig = { norm: 'linf', eps: 0.02, iterations: 3, restarts: 1, randomStart: true, seed: 9 };
      let prev = -1;
      for (const restarts of [1, 2, 4]) {
        const rate = pgdAttack(m, b, { ...base, restarts }).records.filter((r) => r.success).length;
        assert.ok(rate >= prev, `restarts ${restarts}: ${rate} < ${prev}`);
        prev = rate;
      }
      const whole = pgdAttack(m, b, { ...base, restarts: 2 }).records;
      const halves = [0, 12].flatMap(
        (s) =>
          pgdAttack(
            m,
            {
              images: b.images.narrow(0, s, 12),
              labels: b.labels.narrow(0, s, 12),
              indices: b.indices.slice(s, s + 12),
            },
            { ...base, restarts: 2 },
          ).records,
      );
      assert.deepEqual(
        halves.map((r) => [r.success, r.restart]),
        whole.map((r) => [r.success, r.restart]),
      );
    });
  } finally {
    m.dispose();
  }
});

test("early-stopped PGD: the full protocol's success records, the same examples for unfooled inputs, independent of batching", () => {
  const m = randomModel(6);
  try {
    scope(() => {
      const b = batch(32, 7);
      for (const [norm, eps] of [
        ['linf', 0.004],
        ['l2', 0.15],
      ] as [Norm, number][]) {
        const cfg: PgdConfig = { norm, eps, iterations: 6, restarts: 3, randomStart: true, seed: 5 };
        const full = pgdAttack(m, b, { ...cfg, earlyStop: false });
        const early = pgdAttack(m, b, cfg);
        const fooled = full.records.filter((r) => r.success).length;
        assert.ok(fooled > 0 && fooled < 32, `${norm}: a mix of fooled and unfooled inputs (${fooled} of 32)`);
        assert.deepEqual(
          early.records.map((r) => r.success),
          full.records.map((r) => r.success),
          norm,
        );
        full.records.forEach((r, i) => {
          const e = early.records[i]!;
          assert.equal(e.adversarialPrediction !== e.cleanPrediction, r.success);
          if (r.success) return;
          // unfooled: every restart and iteration ran in both; the kept iterate is the same
          assert.deepEqual([e.restart, e.iteration, e.adversarialPrediction], [r.restart, r.iteration, r.adversarialPrediction]);
          const d = early.adversarial
            .narrow(0, i, 1)
            .sub(full.adversarial.narrow(0, i, 1))
            .abs()
            .max()
            .item();
          assert.ok(d < 1e-6, `${norm} input ${i}: ${d}`);
        });
        // fewer rows at a time, or halves of the batch: the same records and examples
        for (const other of [
          pgdAttack(m, b, { ...cfg, restartBatch: 1 }),
          {
            records: [0, 16].flatMap(
              (s) =>
                pgdAttack(
                  m,
                  { images: b.images.narrow(0, s, 16), labels: b.labels.narrow(0, s, 16), indices: b.indices.slice(s, s + 16) },
                  cfg,
                ).records,
            ),
          },
        ]) {
          assert.deepEqual(other.records, early.records, norm);
        }
      }
    });
  } finally {
    m.dispose();
  }
});

test('early-stopped PGD: later restarts run side by side, and an input keeps its lowest fooling restart however many run at once', () => {
  const m = randomModel(6);
  try {
    scope(() => {
      const b = batch(96, 7);
      // one iteration per restart: where a restart starts decides whether it fools
      const cfg: PgdConfig = { norm: 'l2', eps: 0.5, iterations: 1, restarts: 10, randomStart: true, seed: 5 };
      const full = pgdAttack(m, b, { ...cfg, earlyStop: false });
      const runs = [1, 2, 10].map((restartBatch) => pgdAttack(m, b, { ...cfg, restartBatch }));
      const late = runs[0]!.records.filter((r) => r.success && r.restart > 0).length;
      assert.ok(late >= 3, `inputs fooled only after their first restart: ${late}`);
      for (const run of runs) {
        assert.deepEqual(
          run.records.map((r) => r.success),
          full.records.map((r) => r.success),
        );
        assert.deepEqual(run.records, runs[0]!.records);
        assert.ok(run.adversarial.sub(runs[0]!.adversarial).abs().max().item() === 0);
      }
      const halves = [0, 48].flatMap(
        (s) =>
          pgdAttack(m, { images: b.images.narrow(0, s, 48), labels: b.labels.narrow(0, s, 48), indices: b.indices.slice(s, s + 48) }, cfg)
            .records,
      );
      assert.deepEqual(halves, runs[0]!.records);
    });
  } finally {
    m.dispose();
  }
});

test("early-stopped PGD in bf16: an input whose first fooling iterate fails the float32 judgement gets the full protocol's answer", () => {
  // a random model's logits nearly tie, so iterates that fool in bf16 often do not in float32
  const m = randomModel(6).eval(); // as the attack judges it
  try {
    scope(() => {
      const b = batch(96, 7);
      for (const [norm, eps] of [
        ['linf', 0.004],
        ['l2', 0.15],
      ] as [Norm, number][]) {
        const cfg: PgdConfig = { norm, eps, iterations: 6, restarts: 3, randomStart: true, seed: 5, precision: 'bf16' };
        const full = pgdAttack(m, b, { ...cfg, earlyStop: false });
        const early = pgdAttack(m, b, cfg);
        assert.ok((early.rejudged ?? 0) > 0, `${norm}: some inputs fall back (${early.rejudged})`);
        assert.deepEqual(
          early.records.map((r) => r.success),
          full.records.map((r) => r.success),
          norm,
        );
        // every example lies in its budget and fools exactly when its record says so
        const pred = noGrad(() => m.forward(early.adversarial).logits.argmax(1)).toNumbers();
        early.records.forEach((r, i) => assert.equal(pred[i] !== r.cleanPrediction, r.success, `${norm} input ${i}`));
        assert.ok(sampleNorms(early.adversarial.sub(b.images), norm).max().item() <= eps * (1 + 1e-5));
      }
    });
  } finally {
    m.dispose();
  }
});

test('deterministic PGD equals an independent python3-torch PGD (fixture) for L2 and Linf', () => {
  const { tensors, metadata } = loadSafetensors(join(ROOT, 'fixtures', 'attacks.safetensors'));
  const meta = JSON.parse(metadata.json!);
  const threads = getNumThreads();
  setNumThreads(1);
  const m = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: meta.width });
  try {
    scope(() => {
      const state = new Map<string, Tensor>();
      for (const [k, t] of tensors) if (k.startsWith('state.')) state.set(k.slice(6), t);
      m.loadStateDict(state);
      const x = tensors.get('x')!.to(DEVICE);
      const y = tensors.get('y')!.to(DEVICE);
      for (const [norm, [eps, iterations]] of Object.entries(meta.runs) as [Norm, [number, number]][]) {
        // the fixture attacks its (random) labels, with batch norm as PyTorch runs it: folded,
        // the rounding differs and PGD's normalised steps carry it along
        const out = pgdAttack(
          m,
          { images: x, labels: y, indices: [0, 1, 2, 3, 4, 5] },
          { norm, eps, iterations, restarts: 1, randomStart: false, seed: 0, against: 'label', earlyStop: false, foldBatchNorm: false },
        );
        const e = relErr(out.adversarial, tensors.get(`${norm}.adv`)!.to(DEVICE));
        assert.ok(e < 1e-5, `${norm}: relative error ${e}`);
      }
    });
  } finally {
    setNumThreads(threads);
    m.dispose();
    for (const t of tensors.values()) t.dispose();
  }
});

test('untargeted PGD attacks the clean prediction, whatever the labels: success is a changed prediction, as for k-NS', () => {
  const m = randomModel(4);
  try {
    scope(() => {
      const b = batch(10, 5);
      // attacks run the model in eval mode
      const clean = noGrad(() => m.eval().forward(b.images).logits.argmax(1));
      const wrong = tensor(
        BigInt64Array.from(clean.toNumbers(), (c) => BigInt((c + 1) % 10)),
        { shape: [10] },
      );
      for (const norm of ['l2', 'linf'] as Norm[]) {
        const cfg: PgdConfig = { norm, eps: norm === 'l2' ? 1 : 0.05, iterations: 4, restarts: 2, randomStart: true, seed: 3 };
        const base = pgdAttack(m, b, cfg);
        // the labels do not enter: labels equal to the prediction, or all wrong, give the same run
        for (const labels of [clean, wrong]) {
          const other = pgdAttack(m, { ...b, labels }, cfg);
          assert.equal(other.adversarial.sub(base.adversarial).abs().max().item(), 0, norm);
          assert.deepEqual(
            other.records.map((r) => r.success),
            base.records.map((r) => r.success),
          );
        }
        // and it is the label attack with the prediction as label
        const asLabel = pgdAttack(m, { ...b, labels: clean }, { ...cfg, against: 'label' });
        assert.equal(asLabel.adversarial.sub(base.adversarial).abs().max().item(), 0, norm);
        for (const r of base.records) assert.equal(r.success, r.adversarialPrediction !== r.cleanPrediction);
        // against the label, success is misclassification
        const vsWrong = pgdAttack(m, { ...b, labels: wrong }, { ...cfg, against: 'label' });
        for (const r of vsWrong.records) assert.equal(r.success, r.adversarialPrediction !== r.label);
      }
    });
  } finally {
    m.dispose();
  }
});

test('fake ReLU auto: off for VGG and TorchScript, on for ResNets, the small CNN and other architectures', () => {
  assert.equal(defaultFakeRelu('vgg19'), false);
  assert.equal(defaultFakeRelu('vgg11'), false);
  assert.equal(defaultFakeRelu('torchscript'), false);
  assert.equal(defaultFakeRelu('resnet18'), true);
  assert.equal(defaultFakeRelu('resnet50-imagenet'), true);
  assert.equal(defaultFakeRelu('small-cnn'), true);
  assert.equal(resolveFakeRelu('on', 'vgg19'), true);
  assert.equal(resolveFakeRelu('off', 'small-cnn'), false);
  assert.equal(resolveFakeRelu('auto', 'vgg19'), false);
  assert.throws(() => resolveFakeRelu('yes' as 'on', 'vgg19'), /auto, on or off/);
});

const root = mkdtempSync(join(tmpdir(), 'sauron-atk-'));
const run = join(root, 'run');

test("k-NS on a trained model: one batch of inputs x neurons, each input's most sensitive neurons in rank order, reproducible", async () => {
  await train(
    {
      ...DEFAULTS['fashion-mnist']!,
      method: 'standard',
      dataset: 'fashion-mnist',
      width: 0.25,
      epochs: 2,
      batchSize: 64,
      limit: 2048,
      testLimit: 256,
      seed: 1,
    },
    { out: run },
  );
  const { loadModel } = await import('../../src/index.js');
  const { model } = loadModel(run);
  try {
    const ds = loadFashionMnist('test');
    const stats = await featureStats(model, [subset(ds, { limit: 500 })]);
    const b = onDevice(ds.loadSync(Array.from({ length: 12 }, (_, i) => i)));
    const cfg = {
      norm: 'l2' as Norm,
      eps: 1.5,
      iterations: 10,
      rankCount: 8,
      fakeRelu: false,
      featureMean: stats.mean,
      featureStd: stats.std,
      seed: 0,
    };
    const a = scope(() => knsAttack(model, b, cfg).records);
    const again = scope(() => knsAttack(model, b, cfg).records);
    assert.equal(a.length, 12 * 8);
    assert.deepEqual(a.map((r) => [r.index, r.rank]).slice(0, 9), [
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 4],
      [0, 5],
      [0, 6],
      [0, 7],
      [0, 8],
      [1, 1],
    ]);
    assert.deepEqual(a, again);
    // rows stepped in chunks of any size (across inputs, down to one row): the same records and examples
    scope(() => {
      const whole = knsAttack(model, b, { ...cfg, rowBatch: 96 });
      assert.deepEqual(whole.records, a);
      for (const rowBatch of [5, 1]) {
        const chunked = knsAttack(model, b, { ...cfg, rowBatch });
        assert.deepEqual(chunked.records, a, `rowBatch ${rowBatch}`);
        assert.equal(chunked.frozenRows, whole.frozenRows);
        assert.equal(chunked.adversarial.sub(whole.adversarial).abs().max().item(), 0, `rowBatch ${rowBatch}`);
      }
      assert.ok(whole.frozenRows! > 0, 'rows that cannot move are set aside before chunking');
      assert.deepEqual(knsAttack(model, b, { ...cfg, rowBatch: 5, earlyStop: false }).records, a, 'every row stepped, in chunks');
    });
    assert.throws(() => knsAttack(model, b, { ...cfg, rowBatch: 0 }), /rows per step must be a positive integer/);
    for (const r of a) assert.ok(r.l2 <= 1.5 * (1 + 1e-5));
    // an input's rows attack its 8 most sensitive neurons (ascending scaled Delta, eps 0), in
    // rank order, with their Deltas; success is the model's prediction on the kept example
    scope(() => {
      const { logits, features } = noGrad(() => model.eval().forward(b.images));
      const d = delta(logits, features, model.classifier.weight).t().contiguous();
      const f = model.featureDim;
      const order = rankNeurons(scaleDeltas(d, stats.mean, stats.std, 0)).toNumbers();
      const dv = d.toArray<'float32'>();
      const out = knsAttack(model, b, cfg);
      const pred = noGrad(() => model.forward(out.adversarial).logits.argmax(1)).toNumbers();
      out.records.forEach((r, i) => {
        assert.equal(r.neuron, order[r.index * f + r.rank - 1], `input ${r.index} rank ${r.rank}`);
        assert.equal(r.delta, dv[r.index * f + r.neuron]);
        assert.equal(r.adversarialPrediction, pred[i]);
        assert.equal(r.success, pred[i] !== r.cleanPrediction);
      });
      // ranking by raw Delta would pick other neurons here
      const raw = rankNeurons(d).toNumbers();
      assert.ok(
        a.some((r) => r.neuron !== raw[r.index * f + r.rank - 1]),
        'the scaled and the raw rankings differ on this model',
      );
    });
    assert.equal(new Set(a.filter((r) => r.index === 0).map((r) => r.neuron)).size, 8);
    assert.throws(() => knsAttack(model, b, { ...cfg, rankCount: 999 }), /exceed the model's 64 features/);
    b.images.dispose();
    b.labels.dispose();
  } finally {
    model.dispose();
  }
});

test('k-NS records whether each target was active; behind a true ReLU an inactive target never moves', async () => {
  const { loadModel } = await import('../../src/index.js');
  const { model } = loadModel(run);
  try {
    const ds = loadFashionMnist('test');
    const stats = await featureStats(model, [subset(ds, { limit: 500 })]);
    const b = onDevice(ds.loadSync(Array.from({ length: 16 }, (_, i) => i)));
    const cfg = { norm: 'l2' as Norm, eps: 1.5, iterations: 8, rankCount: 6, featureMean: stats.mean, featureStd: stats.std, seed: 0 };
    const z = scope(() => noGrad(() => model.eval().forward(b.images).features).toArray<'float32'>());
    const f = model.featureDim;
    const trueRelu = scope(() => knsAttack(model, b, { ...cfg, fakeRelu: false }).records);
    const fake = scope(() => knsAttack(model, b, { ...cfg, fakeRelu: true }).records);
    for (const records of [trueRelu, fake]) {
      for (const r of records) {
        assert.equal(r.active, z[r.index * f + r.neuron]! > 0, `input ${r.index} neuron ${r.neuron}`);
        assert.equal(r.success, r.adversarialPrediction !== r.cleanPrediction);
      }
    }
    const inactive = trueRelu.filter((r) => !r.active);
    assert.ok(inactive.length > 0 && inactive.length < trueRelu.length, 'the trained model has active and inactive targets');
    for (const r of inactive) {
      assert.equal(r.l2, 0);
      assert.equal(r.success, false);
    }
    assert.ok(
      fake.some((r) => !r.active && r.l2 > 0),
      'the fake ReLU moves inactive targets',
    );
    const split = targetSplit(fake);
    assert.equal(split.active.rows + split.inactive.rows, fake.length);
    assert.equal(split.active.successRate, fake.filter((r) => r.active && r.success).length / split.active.rows);
    assert.equal(split.inactive.deltaAchieveRate, fake.filter((r) => !r.active && r.deltaAchieved).length / split.inactive.rows);
    // the attack folder: samples.csv carries the flag, results.json the split and robust accuracy
    const out = join(root, 'kns-split');
    const res = await runAttack({
      model,
      dataset: subset(ds, { limit: 16 }),
      out,
      batchSize: 8,
      spec: { attack: 'kns', neurons: [1, 3, 6], ...cfg, fakeRelu: true },
    });
    const rows = readFileSync(join(out, 'samples.csv'), 'utf8').trim().split('\n');
    const head = rows[0]!.split(',');
    const cells = rows.slice(1).map((l) => l.split(','));
    const col = (name: string) => cells.map((c) => Number(c[head.indexOf(name)]));
    assert.deepEqual(
      col('active'),
      fake.map((r) => (r.active ? 1 : 0)),
    );
    assert.deepEqual(res.targets, split);
    const rank1 = fake.filter((r) => r.rank === 1);
    assert.deepEqual({ active: res.perRank![0]!.active, inactive: res.perRank![0]!.inactive }, targetSplit(rank1));
    assert.equal(res.perRank![0]!.active.rows + res.perRank![0]!.inactive.rows, 16);
    const correct = new Set(rank1.filter((r) => r.cleanPrediction === r.label).map((r) => r.index));
    const fooled6 = new Set(fake.filter((r) => r.success).map((r) => r.index));
    assert.equal(res.knsRobustAccuracy!['6'], [...correct].filter((i) => !fooled6.has(i)).length / 16);
    assert.equal(res.robustAccuracy, res.knsRobustAccuracy!['6']);
    // rows that cannot move stop after the first gradient (the default): the same records and
    // examples as stepping every row to the end, for the true ReLU (inactive rows dropped) and
    // the fake one (nothing to drop)
    for (const fakeRelu of [false, true]) {
      const [full, dropped] = [false, undefined].map((earlyStop) =>
        scope(() => {
          const o = knsAttack(model, b, { ...cfg, fakeRelu, ...(earlyStop === false ? { earlyStop } : {}) });
          return { records: o.records, adversarial: Array.from(o.adversarial.toArray<'float32'>()) };
        }),
      );
      assert.deepEqual(dropped!.records, full!.records, `fake ReLU ${fakeRelu}`);
      assert.deepEqual(dropped!.adversarial, full!.adversarial, `fake ReLU ${fakeRelu}`);
    }
    b.images.dispose();
    b.labels.dispose();
  } finally {
    model.dispose();
  }
});

test('sauron attack: files, resume, transfer, seeds; bad input is refused', () => {
  const out = join(root, 'pgd');
  const r = sauron([
    'attack',
    '--model',
    run,
    '--attack',
    'pgd',
    '--norm',
    'linf',
    '--eps',
    '8/255',
    '--limit',
    '40',
    '--batch-size',
    '16',
    '--restarts',
    '2',
    '--save-examples',
    '--target-model',
    run,
    '--out',
    out,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.equal(res.count, 40);
  assert.ok(Math.abs(res.attack.eps - 8 / 255) < 1e-12);
  assert.ok(res.successRateCorrect >= 0 && res.successRateCorrect <= 1);
  assert.ok(res.transfer && res.transfer.successRateCorrect === res.successRateCorrect, 'a model transfers perfectly to itself');
  const csv = readFileSync(join(out, 'samples.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 41);
  assert.match(csv[0]!, /^index,label,clean_prediction,adversarial_prediction,success,l2,linf,restart,iteration,target_clean_prediction/);
  scope(() => {
    const adv = loadNpy(join(out, 'adversarial.npy'));
    const clean = loadNpy(join(out, 'clean.npy'));
    assert.deepEqual(adv.shape, [40, 1, 28, 28]);
    assert.ok(adv.sub(clean).abs().max().item() <= 8 / 255 + 1e-6);
    assert.deepEqual(
      loadNpy(join(out, 'indices.npy')).toNumbers(),
      Array.from({ length: 40 }, (_, i) => i),
    );
  });
  // batch norm as a layer while iterating: recorded, and the same outcome for every input
  const plain = join(root, 'pgd-plain');
  const p = sauron([
    'attack',
    '--model',
    run,
    '--attack',
    'pgd',
    '--norm',
    'linf',
    '--eps',
    '8/255',
    '--limit',
    '40',
    '--batch-size',
    '16',
    '--restarts',
    '2',
    '--no-fold-batch-norm',
    '--out',
    plain,
  ]);
  assert.equal(p.status, 0, p.stderr);
  assert.equal(JSON.parse(readFileSync(join(plain, 'results.json'), 'utf8')).attack.foldBatchNorm, false);
  assert.equal(res.attack.foldBatchNorm, undefined, 'folded by default');
  const success = (dir: string) =>
    readFileSync(join(dir, 'samples.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[4]);
  assert.deepEqual(success(plain), success(out));
  // an interrupted run: keep the first 2 of 3 batches' progress, resume, same results
  const progress = readFileSync(join(out, 'progress.jsonl'), 'utf8').trim().split('\n');
  const again = join(root, 'pgd2');
  const first = sauron([
    'attack',
    '--model',
    run,
    '--attack',
    'pgd',
    '--norm',
    'linf',
    '--eps',
    '8/255',
    '--limit',
    '40',
    '--batch-size',
    '16',
    '--restarts',
    '2',
    '--save-examples',
    '--target-model',
    run,
    '--out',
    again,
  ]);
  assert.equal(first.status, 0);
  writeFileSync(join(again, 'progress.jsonl'), `${progress.slice(0, 2).join('\n')}\n{"batch": 2, "trunc`);
  rmSync(join(again, 'results.json'));
  const resumed = sauron([
    'attack',
    '--model',
    run,
    '--attack',
    'pgd',
    '--norm',
    'linf',
    '--eps',
    '8/255',
    '--limit',
    '40',
    '--batch-size',
    '16',
    '--restarts',
    '2',
    '--save-examples',
    '--target-model',
    run,
    '--out',
    again,
    '--resume',
  ]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(readFileSync(join(again, 'samples.csv'), 'utf8'), readFileSync(join(out, 'samples.csv'), 'utf8'));
  // the same attack without the target model cannot continue a transfer run (its rows have the target's columns)
  const noTarget = sauron([
    'attack',
    '--model',
    run,
    '--attack',
    'pgd',
    '--norm',
    'linf',
    '--eps',
    '8/255',
    '--limit',
    '40',
    '--batch-size',
    '16',
    '--restarts',
    '2',
    '--save-examples',
    '--out',
    again,
    '--resume',
  ]);
  assert.notEqual(noTarget.status, 0);
  assert.match(noTarget.stderr, /holds an attack with other settings/);
  const refused = sauron([
    'attack',
    '--model',
    run,
    '--attack',
    'pgd',
    '--norm',
    'linf',
    '--eps',
    '8/255',
    '--limit',
    '40',
    '--out',
    again,
  ]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /holds another attack's results/);

  const cifarRun = join(root, 'cifar-like');
  const cm = createModel({ arch: 'vgg11', inputShape: [3, 32, 32], numClasses: 10, width: 0.0625 });
  saveModel(cifarRun, cm, { dataset: 'cifar10' });
  cm.dispose();
  const shape = sauron([
    'attack',
    '--model',
    cifarRun,
    '--dataset',
    'fashion-mnist',
    '--norm',
    'l2',
    '--eps',
    '1',
    '--limit',
    '2',
    '--out',
    join(root, 'bad'),
  ]);
  assert.notEqual(shape.status, 0);
  assert.match(shape.stderr, /the model expects 3x32x32 images, fashion-mnist test has 1x28x28/);
  const bad: [string[], RegExp][] = [
    [['--norm', 'l2', '--eps', '0'], /--eps must be a positive number/],
    [['--norm', 'l2', '--eps', 'nan'], /--eps must be a positive number/],
    [['--norm', 'l3', '--eps', '1'], /argument 'l3' is invalid/],
    [['--norm', 'l2', '--eps', '1', '--attack', 'kns', '--neurons', '1,999'], /neuron ranks 1\.\.999 exceed the model's 64 features/],
    [['--norm', 'l2', '--eps', '1', '--dataset', 'cifar10'], /pass --data DIR/],
  ];
  for (const [args, re] of bad) {
    const b = sauron(['attack', '--model', run, '--limit', '4', '--out', join(root, 'bad'), ...args]);
    assert.notEqual(b.status, 0, args.join(' '));
    const lines = b.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('(run with --help'));
    assert.equal(lines.length, 1, b.stderr);
    assert.match(lines[0]!, re);
  }
  assert.ok(existsSync(join(out, 'results.json')), 'earlier results are kept');
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test("results.json written before the k-NS fields were renamed reads under today's names; today's names win", () => {
  const root = mkdtempSync(join(tmpdir(), 'sauron-former-'));
  try {
    const rates = { 1: 0.25, 4: 0.5 };
    writeFileSync(
      attackResultsPath(root),
      JSON.stringify({
        successRate: 0.5,
        nNeuronSuccessRate: rates,
        nNeuronSuccessRateCorrect: { 1: 0.2, 4: 0.4 },
        nNeuronRobustAccuracy: { 1: 0.6, 4: 0.45 },
        knsRobustAccuracy: { 1: 0.7 },
      }),
    );
    const r = readAttackResults(root);
    assert.deepEqual(r.knsSuccessRate, rates);
    assert.deepEqual(r.knsSuccessRateCorrect, { 1: 0.2, 4: 0.4 });
    assert.deepEqual(r.knsRobustAccuracy, { 1: 0.7 });
    writeFileSync(attackResultsPath(root), 'null');
    assert.throws(() => readAttackResults(root), /results\.json: expected a JSON object/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
