// Users' own PyTorch models: TorchScript files in both output conventions and state dicts in
// the common layouts, against PyTorch's own outputs (fixtures/generate_torchscript.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TorchScriptClassifier, convertCheckpoint, createModel, Generator, rand, noGrad, saveModel, loadSafetensors, loadNpy, scope, liveTensors, type Tensor } from '../src/index.js';
import { delta } from '../src/analysis/delta.js';
import { ROOT, relErr } from './helpers.js';

const FX = join(ROOT, 'fixtures', 'torchscript');
const fx = loadSafetensors(join(FX, 'torchscript.safetensors')).tensors;
for (const t of fx.values()) t.keep();
const get = (k: string): Tensor => fx.get(k)!;

function sauron(...args: string[]) {
  return spawnSync(process.execPath, [join(ROOT, 'bin', 'sauron.js'), ...args], { encoding: 'utf8' });
}

test('TorchScript returning (logits, features): outputs and Delta equal PyTorch and the reference loop', () => {
  const m = new TorchScriptClassifier(join(FX, 'ts_tuple.pt'), { inputShape: [1, 28, 28] });
  try {
    assert.equal(m.featureDim, 24);
    assert.equal(m.numClasses, 10);
    scope(() => {
      const { logits, features } = m.forward(get('gray'));
      assert.ok(relErr(logits, get('ts_tuple.logits')) < 1e-5);
      assert.ok(relErr(features, get('ts_tuple.features')) < 1e-5);
      const d = delta(logits, features, m.classifier.weight).toArray<'float32'>();
      const ref = get('ts_tuple.deltas').toArray<'float32'>();
      for (let i = 0; i < d.length; i++) {
        assert.equal(Number.isFinite(d[i]!), Number.isFinite(ref[i]!), `entry ${i}`);
        if (Number.isFinite(ref[i]!)) assert.ok(Math.abs(d[i]! - ref[i]!) <= 1e-5 * Math.max(1e-6, Math.abs(ref[i]!)), `entry ${i}: ${d[i]} vs ${ref[i]}`);
      }
    });
  } finally {
    m.dispose();
  }
});

test('TorchScript returning logits only: --features-layer runs the children in order', () => {
  assert.throws(() => new TorchScriptClassifier(join(FX, 'ts_logits.pt'), { inputShape: [1, 28, 28] }),
    /returns logits only: name the submodule .* --features-layer \(its submodules: conv1, relu1, pool, flatten, fc, relu3, out\)/);
  assert.throws(() => new TorchScriptClassifier(join(FX, 'ts_logits.pt'), { inputShape: [1, 28, 28], featuresLayer: 'nope' }), /has no submodule 'nope'/);
  const m = new TorchScriptClassifier(join(FX, 'ts_logits.pt'), { inputShape: [1, 28, 28], featuresLayer: 'relu3' });
  try {
    scope(() => {
      const { logits, features } = m.forward(get('gray'));
      assert.ok(relErr(logits, get('ts_logits.logits')) < 1e-5);
      assert.ok(relErr(features, get('ts_logits.features')) < 1e-5);
    });
  } finally {
    m.dispose();
  }
  assert.throws(() => new TorchScriptClassifier(join(FX, 'ts_tuple.pt'), { inputShape: [1, 28, 28], classifierParam: 'missing.weight' }),
    /has no parameter 'missing.weight' \(its parameters: conv.weight \[6, 1, 3, 3\]/);
});

test('bad TorchScript input: not a model, a dict output; no tensors leak', () => {
  const before = liveTensors();
  const dir = mkdtempSync(join(tmpdir(), 'sauron-ts-'));
  try {
    writeFileSync(join(dir, 'junk.pt'), 'not a model');
    assert.throws(() => new TorchScriptClassifier(join(dir, 'junk.pt'), { inputShape: [1, 28, 28] }), /is not a TorchScript model/);
    assert.throws(() => new TorchScriptClassifier(join(FX, 'ts_dict.pt'), { inputShape: [1, 28, 28] }), /forward must return a tensor or a tuple/);
    assert.throws(() => new TorchScriptClassifier(join(FX, 'sd_torchvision_resnet18.pt'), { inputShape: [3, 32, 32] }), /is not a TorchScript model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(liveTensors(), before);
});

test('state dicts in the robustness and torchvision layouts load into the zoo and match PyTorch', () => {
  const cases: [string, string, string, object][] = [
    ['sd_robustness_vgg.pt', 'vgg11', 'vgg', {}],
    ['sd_torchvision_resnet18.pt', 'resnet18-imagenet', 'tv', { inputShape: [3, 32, 32], normalization: { mean: [0, 0, 0], std: [1, 1, 1] } }],
    ['sd_robustness_resnet18.pt', 'resnet18', 'rc', { normalization: { mean: [0, 0, 0], std: [1, 1, 1] } }],
  ];
  for (const [file, arch, key, opts] of cases) {
    const m = convertCheckpoint(join(FX, file), { arch, ...opts });
    try {
      m.eval();
      scope(() => {
        const o = m.forward(get('rgb'));
        assert.ok(relErr(o.logits, get(`${key}.logits`)) < 1e-5, file);
        assert.ok(relErr(o.features, get(`${key}.features`)) < 1e-5, file);
      });
      if (key === 'vgg') assert.deepEqual(m.config.normalization.mean.map((v) => +v.toFixed(4)), [0.4914, 0.4822, 0.4465], 'normalizer buffers');
    } finally {
      m.dispose();
    }
  }
  assert.throws(() => convertCheckpoint(join(FX, 'sd_robustness_vgg.pt'), { arch: 'resnet18' }), /missing keys: conv1\.weight/);
  assert.throws(() => convertCheckpoint(join(FX, 'sd_robustness_vgg.pt'), { arch: 'vgg13' }), /state dict|shapes do not match/);
  assert.throws(() => convertCheckpoint(join(FX, 'ts_tuple.pt'), { arch: 'vgg11' }), /not a PyTorch checkpoint|no classifier weight/);
});

test('sensitivity, attack and eval run on a TorchScript file end to end; convert writes a run folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'sauron-ts-cli-'));
  try {
    const model = join(FX, 'ts_tuple.pt');
    const s = sauron('sensitivity', '--model', model, '--dataset', 'fashion-mnist', '--limit', '16', '--stats-split', 'test', '--out', join(root, 's'));
    assert.equal(s.status, 0, s.stderr);
    scope(() => assert.deepEqual(loadNpy(join(root, 's', 'deltas.npy')).shape, [24, 16]));
    const a = sauron('attack', '--model', model, '--dataset', 'fashion-mnist', '--attack', 'kns', '--norm', 'l2', '--eps', '1',
      '--neurons', '1,2', '--iterations', '3', '--limit', '4', '--sensitivity', join(root, 's'), '--out', join(root, 'a'));
    assert.equal(a.status, 0, a.stderr);
    assert.ok(JSON.parse(readFileSync(join(root, 'a', 'results.json'), 'utf8')).nNeuronSuccessRate);
    const e = sauron('eval', '--model', join(FX, 'ts_logits.pt'), '--features-layer', 'relu3', '--dataset', 'fashion-mnist', '--limit', '20');
    assert.equal(e.status, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).count, 20);
    const bad = sauron('eval', '--model', join(FX, 'ts_dict.pt'), '--dataset', 'fashion-mnist', '--limit', '2');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /forward must return a tensor or a tuple/);
    const c = sauron('convert', '--from', join(FX, 'sd_robustness_vgg.pt'), '--arch', 'vgg11', '--dataset', 'cifar10', '--out', join(root, 'c'));
    assert.equal(c.status, 0, c.stderr);
    assert.equal(JSON.parse(readFileSync(join(root, 'c', 'model.json'), 'utf8')).dataset, 'cifar10');
    const missing = sauron('convert', '--from', join(FX, 'sd_robustness_vgg.pt'), '--arch', 'resnet18', '--out', join(root, 'd'));
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /missing keys: conv1\.weight/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('export round trip: every architecture family as TorchScript, loaded back, gives identical outputs', () => {
  const root = mkdtempSync(join(tmpdir(), 'sauron-export-'));
  try {
    const cases: [string, [number, number, number]][] = [['small-cnn', [1, 28, 28]], ['vgg11', [3, 32, 32]], ['resnet18', [3, 16, 16]], ['resnet50-imagenet', [3, 64, 64]]];
    for (const [arch, shape] of cases) {
      const m = createModel({ arch, inputShape: shape, numClasses: 10, width: 0.125, normalization: { mean: Array(shape[0]).fill(0.3), std: Array(shape[0]).fill(0.6) } }, { generator: new Generator(2) });
      try {
        m.train();
        scope(() => noGrad(() => m.forward(rand([4, ...shape])))); // non-trivial BN statistics
        m.eval();
        const run = join(root, arch);
        saveModel(run, m);
        const r = sauron('export', '--model', run, '--out', join(root, `${arch}.pt`));
        assert.equal(r.status, 0, r.stderr);
        const back = new TorchScriptClassifier(join(root, `${arch}.pt`), { inputShape: shape });
        try {
          scope(() => {
            const x = rand([3, ...shape]);
            const a = m.forward(x);
            const b = back.forward(x);
            assert.deepEqual(b.logits.argmax(1).toNumbers(), a.logits.argmax(1).toNumbers(), arch);
            assert.ok(relErr(b.logits, a.logits) < 1e-6 && relErr(b.features, a.features) < 1e-6, arch);
          });
        } finally {
          back.dispose();
        }
      } finally {
        m.dispose();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
