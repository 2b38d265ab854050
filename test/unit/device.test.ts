// Device plumbing. Every test runs on DEVICE (the CPU here; the GPU check sets
// SAURON_TEST_DEVICE=cuda) while the default device is a trap: 'meta' on the CPU, the CPU on
// a GPU. A tensor that some code creates without naming its device lands on the trap, and
// mixing it with DEVICE's tensors throws; expectDevice also rejects any tensor created on
// another device by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, Generator, loadModel, resolveDevice, saveModel, scope, noGrad } from '../../src/index.js';
import {
  arange,
  autocast,
  builtWithCuda,
  empty,
  expectDevice,
  eye,
  full,
  getDefaultDevice,
  linspace,
  ones,
  rand,
  randint,
  randn,
  randperm,
  setDefaultDevice,
  tensor,
  zeros,
  liveTensors,
} from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import { pgdAttack } from '../../src/attacks/pgd.js';
import { knsAttack } from '../../src/attacks/kns.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { toDevice } from '../../src/data/loader.js';
import { featureStats } from '../../src/analysis/featureStats.js';
import { sensitivityRegularizer } from '../../src/training/sensitivityRegularizer.js';
import { train } from '../../src/training/train.js';
import { DEFAULTS } from '../../src/training/config.js';
import { subset } from '../../src/data/registry.js';
import { sauron } from '../support/cli.js';

const DEVICE = resolveDevice(process.env.SAURON_TEST_DEVICE ?? 'cpu');
const TRAP = DEVICE === 'cpu' ? 'meta' : 'cpu';

/** Runs fn with the trap as default device and every new tensor checked to be on DEVICE. */
function onDevice<T>(fn: () => T, guard = true): T {
  const prev = getDefaultDevice();
  setDefaultDevice(TRAP);
  try {
    return guard ? expectDevice(DEVICE, fn) : fn();
  } finally {
    setDefaultDevice(prev);
  }
}

async function onDeviceAsync<T>(fn: () => Promise<T>): Promise<T> {
  const prev = getDefaultDevice();
  setDefaultDevice(TRAP);
  try {
    return await fn();
  } finally {
    setDefaultDevice(prev);
  }
}

const smallModel = (g = new Generator(3)) =>
  createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 }, { generator: g, device: DEVICE });

function batch(n = 8) {
  const b = loadFashionMnist('test').loadSync(Array.from({ length: n }, (_, i) => i));
  return toDevice(b, DEVICE);
}

test('resolveDevice: auto, cpu, and one clear sentence for what this build cannot do', () => {
  assert.equal(resolveDevice('cpu'), 'cpu');
  assert.equal(resolveDevice('auto'), builtWithCuda && resolveDevice('auto') !== 'cpu' ? 'cuda:0' : 'cpu');
  assert.throws(() => resolveDevice('gpu'), /unknown device 'gpu' \(expected auto, cpu, cuda or cuda:N\)/);
  if (!builtWithCuda) {
    assert.throws(() => resolveDevice('cuda'), /built against a CPU-only libtorch; rebuild it against a CUDA libtorch/);
    assert.throws(() => resolveDevice('cuda:1'), /CPU-only libtorch/);
  } else {
    assert.equal(resolveDevice('cuda'), 'cuda:0');
    assert.throws(() => resolveDevice('cuda:99'), /CUDA device/);
  }
});

test('--device cuda on a CPU-only build stops with one sentence', {
  skip: builtWithCuda && 'a CUDA build: --device cuda is valid here',
}, () => {
  const r = sauron(['eval', '--model', 'nowhere', '--device', 'cuda']);
  assert.notEqual(r.status, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /--device cuda: this Sauron addon was built against a CPU-only libtorch/);
});

test('every creation function honours its device, whatever the default', () => {
  onDevice(() =>
    scope(() => {
      const on = { device: DEVICE };
      const made = [
        zeros([2], on),
        ones([2], on),
        full([2], 3, on),
        empty([2], on),
        arange(0, 4, 1, on),
        linspace(0, 1, 3, on),
        eye(2, on),
        tensor([1, 2], on),
        tensor(new Float32Array([1, 2]), on),
        rand([2], on),
        randn([2], on),
        randint(0, 5, [2], on),
        randperm(4, on),
        rand([2], { generator: new Generator(1, DEVICE) }),
        randperm(4, { generator: new Generator(1, DEVICE) }),
      ];
      for (const t of made) assert.equal(t.device, DEVICE === 'cuda' ? 'cuda:0' : DEVICE);
    }),
  );
  // the guard catches a tensor made elsewhere
  assert.throws(() => onDevice(() => scope(() => zeros([3], { device: TRAP }))), /device guard: a tensor of shape \[3\] was created on/);
});

test('host data in and out of a device tensor: setData, toArray, item', () => {
  onDevice(() =>
    scope(() => {
      const t = zeros([3], { device: DEVICE });
      t.setData(new Float32Array([1, 2, 3]));
      assert.deepEqual(Array.from(t.toArray() as Float32Array), [1, 2, 3]);
      assert.equal(t.sum().item(), 6);
    }),
  );
});

test('generators: a seed gives the same numbers on the same device', () => {
  onDevice(() =>
    scope(() => {
      const a = rand([5], { generator: new Generator(7, DEVICE) }).toArray();
      const b = rand([5], { generator: new Generator(7, DEVICE) }).toArray();
      assert.deepEqual(a, b);
      const g = new Generator(9, DEVICE);
      const state = g.getState();
      const x = rand([3], { generator: g }).toArray();
      g.setState(state);
      assert.deepEqual(rand([3], { generator: g }).toArray(), x);
    }),
  );
});

test('models: created on a device, moved in place, saved device-neutral and loaded anywhere', () => {
  const model = onDevice(() => smallModel(), false);
  const dir = mkdtempSync(join(tmpdir(), 'sauron-dev-'));
  try {
    assert.equal(model.device, DEVICE === 'cuda' ? 'cuda:0' : DEVICE);
    for (const [, p] of model.namedParameters()) assert.equal(p.device, model.device);
    const ids = model.parameters().map((p) => p.native);
    const ref = onDevice(() => scope(() => noGrad(() => model.forward(batch(4).images).logits.cpu().toArray())), false);
    model.to('cpu');
    assert.deepEqual(
      model.parameters().map((p) => p.native),
      ids,
      'parameters keep their identity',
    );
    for (const [, b] of model.namedBuffers()) assert.equal(b.device, 'cpu');
    model.to(DEVICE);
    saveModel(dir, model);
    const back = loadModel(dir, { device: 'cpu' }).model;
    const again = onDevice(() => loadModel(dir, { device: DEVICE }).model, false);
    try {
      assert.equal(back.device, 'cpu');
      const x = loadFashionMnist('test').loadSync([0, 1, 2, 3]).images;
      const onCpu = scope(() => noGrad(() => back.forward(x).logits.toArray())) as Float32Array;
      for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(onCpu[i]! - (ref as Float32Array)[i]!) < 1e-4);
      const onDev = onDevice(() => scope(() => noGrad(() => again.forward(x.to(DEVICE)).logits.cpu().toArray())), false) as Float32Array;
      for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(onDev[i]! - (ref as Float32Array)[i]!) < 1e-4);
      x.dispose();
    } finally {
      back.dispose();
      again.dispose();
    }
  } finally {
    model.dispose();
  }
});

test('forward, PGD (both norms, random starts, restarts) and k-NS keep every tensor on the device', async () => {
  const model = onDevice(() => smallModel(), false);
  const stats = await featureStats(model, [subset(loadFashionMnist('test'), { limit: 64 })]);
  const b = batch(6);
  const indices = b.indices;
  try {
    onDevice(() =>
      scope(() => {
        noGrad(() => model.forward(b.images));
        for (const norm of ['l2', 'linf'] as const) {
          const out = pgdAttack(
            model,
            { ...b, indices },
            { norm, eps: norm === 'l2' ? 1 : 0.1, iterations: 3, restarts: 2, randomStart: true, seed: 0 },
          );
          assert.equal(out.adversarial.device, b.images.device);
          assert.equal(out.records.length, 6);
        }
        // the default protocol: early stopping on the CPU only
        const cfg = { norm: 'linf' as const, eps: 0.5, iterations: 8, restarts: 2, randomStart: true, seed: 0 };
        const full = pgdAttack(model, { ...b, indices }, { ...cfg, earlyStop: false }).records;
        const early = pgdAttack(model, { ...b, indices }, { ...cfg, earlyStop: true }).records;
        assert.notDeepEqual(early, full, 'fooled inputs keep their first fooling iterate only when stopped early');
        const byDefault = pgdAttack(model, { ...b, indices }, cfg).records;
        assert.deepEqual(byDefault, b.images.device === 'cpu' ? early : full);
        const k = knsAttack(
          model,
          { ...b, indices },
          { norm: 'l2', eps: 1, iterations: 3, rankCount: 2, fakeRelu: true, featureMean: stats.mean, featureStd: stats.std, seed: 0 },
        );
        assert.equal(k.records.length, 12);
      }),
    );
  } finally {
    b.images.dispose();
    b.labels.dispose();
    model.dispose();
  }
});

test('a training step (standard, PGD examples, sensitivity regularizer) stays on the device', () => {
  const model = onDevice(() => smallModel(), false);
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const b = batch(16);
  try {
    const before = liveTensors();
    onDevice(() => {
      for (let step = 0; step < 2; step++) {
        scope(() => {
          const adv = pgdAttack(model, b, { norm: 'l2', eps: 1, iterations: 2, restarts: 1, randomStart: true, seed: step }).adversarial;
          model.train();
          opt.zeroGrad();
          const { logits, features } = model.forward(adv);
          const reg = sensitivityRegularizer(features, model.classifier.weight, b.labels, { topK: 4, delta1: 1, delta2: 10 });
          F.crossEntropy(logits, b.labels).add(reg.total).backward();
          opt.step();
        });
      }
    });
    assert.equal(liveTensors(), before, 'a step frees what it made');
    for (const p of model.parameters()) assert.equal(p.device, model.device);
  } finally {
    b.images.dispose();
    b.labels.dispose();
    model.dispose();
  }
});

test('train() on the device: batches arrive there, the run folder loads on the CPU', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sauron-devtrain-'));
  const r = await onDeviceAsync(() =>
    train(
      {
        ...DEFAULTS['fashion-mnist']!,
        method: 'sensitivity',
        dataset: 'fashion-mnist',
        width: 0.25,
        epochs: 1,
        batchSize: 32,
        limit: 128,
        testLimit: 64,
        seed: 2,
        regularizer: { topK: 4, delta1: 1, delta2: 10 },
        validation: { eps: 1, steps: 2, limit: 16 },
      },
      { out, device: DEVICE },
    ),
  );
  assert.equal(r.completed, true);
  assert.ok(r.metrics[0]!.loss > 0 && Number.isFinite(r.metrics[0]!.loss));
  const { model } = loadModel(out, { device: 'cpu' });
  assert.equal(model.device, 'cpu');
  model.dispose();
});

test('bf16 autocast: the model computes in bf16, attacks return float32 examples inside the budget', () => {
  const model = onDevice(() => smallModel(), false);
  const b = batch(8);
  try {
    onDevice(() =>
      scope(() => {
        const logits = autocast(DEVICE, 'bfloat16', () => noGrad(() => model.forward(b.images).logits));
        assert.equal(logits.dtype, 'bfloat16');
        const out = pgdAttack(model, b, { norm: 'l2', eps: 1, iterations: 3, restarts: 1, randomStart: true, seed: 0, precision: 'bf16' });
        assert.equal(out.adversarial.dtype, 'float32');
        for (const r of out.records) assert.ok(r.l2 <= 1 + 1e-5);
      }),
    );
    // autocast ends with its region
    const plain = onDevice(() => scope(() => noGrad(() => model.forward(b.images).logits.dtype)));
    assert.equal(plain, 'float32');
  } finally {
    b.images.dispose();
    b.labels.dispose();
    model.dispose();
  }
});

test('fp16 training needs CUDA: a clear error elsewhere', { skip: DEVICE !== 'cpu' && `the test device is ${DEVICE}` }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'sauron-fp16-'));
  await assert.rejects(
    train(
      {
        ...DEFAULTS['fashion-mnist']!,
        method: 'standard',
        dataset: 'fashion-mnist',
        width: 0.25,
        epochs: 1,
        batchSize: 32,
        limit: 64,
        testLimit: 32,
        seed: 0,
        precision: 'fp16',
      },
      { out, device: 'cpu' },
    ),
    /--precision fp16 needs a CUDA device/,
  );
});

test('fp16 on CUDA: loss-scaled training steps and an fp16 attack with float32 results', {
  skip: !DEVICE.startsWith('cuda') && 'needs CUDA (SAURON_TEST_DEVICE=cuda)',
}, async () => {
  const out = mkdtempSync(join(tmpdir(), 'sauron-fp16-'));
  const r = await onDeviceAsync(() =>
    train(
      {
        ...DEFAULTS['fashion-mnist']!,
        method: 'standard',
        dataset: 'fashion-mnist',
        width: 0.25,
        epochs: 1,
        batchSize: 32,
        limit: 256,
        testLimit: 64,
        seed: 0,
        precision: 'fp16',
        validation: { eps: 1, steps: 2, limit: 16 },
      },
      { out, device: DEVICE },
    ),
  );
  assert.ok(Number.isFinite(r.metrics[0]!.loss) && r.metrics[0]!.loss > 0);
  const { model } = loadModel(out, { device: DEVICE });
  const b = batch(8);
  try {
    onDevice(() =>
      scope(() => {
        const adv = pgdAttack(model, b, { norm: 'l2', eps: 1, iterations: 3, restarts: 1, randomStart: true, seed: 0, precision: 'fp16' });
        assert.equal(adv.adversarial.dtype, 'float32');
        for (const rec of adv.records) assert.ok(rec.l2 <= 1 + 1e-5);
      }),
    );
  } finally {
    b.images.dispose();
    b.labels.dispose();
    model.dispose();
  }
});
