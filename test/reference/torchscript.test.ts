// Users' own PyTorch models: TorchScript files in both output conventions (features taken at
// a dotted submodule path inside the model's own forward, scripted and traced), files whose
// tensors reach past their records, and state dicts in the common layouts, against PyTorch's
// own outputs (fixtures/generate_torchscript.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  TorchScriptClassifier,
  convertCheckpoint,
  createModel,
  Generator,
  noGrad,
  saveModel,
  scope,
  type Tensor,
} from '../../src/index.js';
import { rand, liveTensors } from '../../src/tensor/index.js';
import { loadSafetensors, loadNpy } from '../../src/serialization/index.js';
import { loadScriptModule, UnsafeScriptFileError } from '../../src/tensor/script.js';
import { Tensor as T } from '../../src/tensor/tensor.js';
import { delta } from '../../src/analysis/delta.js';
import { ROOT, relErr } from '../support/helpers.js';
import { sauron } from '../support/cli.js';

const FX = join(ROOT, 'fixtures', 'torchscript');
const fx = loadSafetensors(join(FX, 'torchscript.safetensors')).tensors;
for (const t of fx.values()) t.keep();
const get = (k: string): Tensor => fx.get(k)!;
const nested = loadSafetensors(join(FX, 'torchscript_nested.safetensors'));
for (const t of nested.tensors.values()) t.keep();
const nget = (k: string): Tensor => nested.tensors.get(k)!;
// the normalisation the traced wrapper's network expects (the generator's metadata)
const { mean: FM_MEAN, std: FM_STD } = JSON.parse(nested.metadata.json!) as { mean: number[]; std: number[] };

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
        if (Number.isFinite(ref[i]!))
          assert.ok(Math.abs(d[i]! - ref[i]!) <= 1e-5 * Math.max(1e-6, Math.abs(ref[i]!)), `entry ${i}: ${d[i]} vs ${ref[i]}`);
      }
    });
  } finally {
    m.dispose();
  }
});

test('TorchScript returning logits only: --features-layer captures a top-level child inside forward', () => {
  assert.throws(
    () => new TorchScriptClassifier(join(FX, 'ts_logits.pt'), { inputShape: [1, 28, 28] }),
    new RegExp(
      String.raw`returns logits only: name the submodule .* --features-layer \(a dotted path such as net.avgpool; ` +
        String.raw`its submodules: conv1, relu1, pool, flatten, fc, relu3, out\)`,
    ),
  );
  assert.throws(
    () => new TorchScriptClassifier(join(FX, 'ts_logits.pt'), { inputShape: [1, 28, 28], featuresLayer: 'nope' }),
    /--features-layer nope: the model has no submodule 'nope' \(its submodules: conv1, relu1, pool, flatten, fc, relu3, out\)/,
  );
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
  assert.throws(
    () => new TorchScriptClassifier(join(FX, 'ts_tuple.pt'), { inputShape: [1, 28, 28], classifierParam: 'missing.weight' }),
    /has no parameter 'missing.weight' \(its parameters: conv.weight \[6, 1, 3, 3\]/,
  );
});

test("dotted --features-layer: a scripted wrapper around torchvision's ResNet gives PyTorch's penultimate activations and input gradients", () => {
  const m = new TorchScriptClassifier(join(FX, 'ts_wrapped.pt'), { inputShape: [1, 28, 28], featuresLayer: 'net.avgpool' });
  try {
    assert.equal(m.featureDim, 16);
    assert.equal(m.numClasses, 10);
    assert.deepEqual(m.settings, {
      file: join(FX, 'ts_wrapped.pt'),
      inputShape: [1, 28, 28],
      featuresLayer: 'net.avgpool',
      classifierParam: 'net.fc.weight',
      normalization: null,
    });
    scope(() => {
      const x = nget('gray').clone().requiresGrad_(true);
      const { logits, features } = m.forward(x);
      assert.ok(relErr(logits, nget('wrapped.logits')) < 1e-5);
      assert.ok(relErr(features, nget('wrapped.features')) < 1e-5);
      // the attacks differentiate through the captured features and the logits
      features
        .sum()
        .add(logits.narrow(1, 0, 1).sum())
        .backward();
      assert.ok(relErr(x.grad!, nget('wrapped.input_grad')) < 1e-4, `input gradient off by ${relErr(x.grad!, nget('wrapped.input_grad'))}`);
    });
  } finally {
    m.dispose();
  }
});

test("the captured output is the submodule's as it returned it, before the model adds to it in place", () => {
  const m = loadScriptModule(join(FX, 'ts_wrapped.pt'), 'cpu');
  m.capture('net.layer4.0.bn2');
  scope(() =>
    noGrad(() => {
      const [out, captured] = m.forwardCaptured(nget('gray').native) as [number, number];
      assert.ok(relErr(new T(out), nget('wrapped.logits')) < 1e-5);
      assert.ok(relErr(new T(captured), nget('wrapped.layer4.0.bn2')) < 1e-5);
    }),
  );
});

test('dotted --features-layer on a traced wrapper, with --mean/--std applied before the module', () => {
  const normalization = { mean: FM_MEAN, std: FM_STD };
  const m = new TorchScriptClassifier(join(FX, 'ts_wrapped_traced.pt'), {
    inputShape: [1, 28, 28],
    featuresLayer: 'net.avgpool',
    normalization,
  });
  const raw = new TorchScriptClassifier(join(FX, 'ts_wrapped_traced.pt'), { inputShape: [1, 28, 28], featuresLayer: 'net.avgpool' });
  try {
    assert.deepEqual(m.settings.normalization, normalization);
    scope(() => {
      const { logits, features } = m.forward(nget('gray'));
      assert.ok(relErr(logits, nget('traced.logits')) < 1e-5);
      assert.ok(relErr(features, nget('traced.features')) < 1e-5);
      // the same file without the normalisation sees other images
      assert.ok(relErr(raw.forward(nget('gray')).features, nget('traced.features')) > 1e-2);
    });
  } finally {
    m.dispose();
    raw.dispose();
  }
});

test('--features-layer refusals, each one line: called twice, inside an if or a loop, never called, no such path', () => {
  const before = liveTensors();
  const open = (file: string, featuresLayer: string) => () =>
    new TorchScriptClassifier(join(FX, file), { inputShape: [1, 28, 28], featuresLayer });
  const cases: [string, string, RegExp][] = [
    [
      'ts_refused.pt',
      'net.act',
      /--features-layer net\.act: net\.act is called 2 times by the model's forward; its output must be computed once$/,
    ],
    ['ts_refused.pt', 'extra.act', /extra\.act is called inside an if \(prim::If\) of the model's forward/],
    ['ts_refused.pt', 'refine', /refine is called inside a loop \(prim::Loop\) of the model's forward/],
    ['ts_refused.pt', 'spare.act', /spare is never used by the model's forward$/],
    ['ts_wrapped.pt', 'net.layer1.0.relu', /net\.layer1\.0\.relu is called 2 times/],
    [
      'ts_wrapped.pt',
      'net.nope',
      /net has no submodule 'nope' \(its submodules: conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool, fc\)$/,
    ],
    ['ts_wrapped.pt', 'net.avgpool.x', /net\.avgpool has no submodule 'x' \(it has no submodules\)$/],
    ['ts_wrapped.pt', 'net..avgpool', /'net\.\.avgpool' is not a submodule path/],
    ['ts_wrapped_traced.pt', 'net.layer4.0.relu', /net\.layer4\.0\.relu is called 2 times/],
  ];
  for (const [file, layer, re] of cases) {
    assert.throws(open(file, layer), (e: Error) => {
      assert.match(e.message, re, `${file} ${layer}`);
      assert.ok(e.message.startsWith(join(FX, file)) && !e.message.includes('\n'), e.message);
      return true;
    });
  }
  assert.equal(liveTensors(), before);
});

test('a file whose tensors reach past their records is refused when loaded, before any prediction', () => {
  const before = liveTensors();
  for (const [file, re] of [
    ['ts_overclaim.pt', /tensor fc\.weight's storage claims 31360 bytes, its record in the file holds 7840/],
    ['ts_oversized.pt', /tensor fc\.bias \[200\] \(float32, offset 0\) needs 200 elements, its storage in the file holds 10/],
    // a tensor inside a dict attribute, the file's pickle holding type-tagged lists, dicts and objects
    ['ts_typed_oversized.pt', /tensor table\.b \[200\] \(float32, offset 0\) needs 200 elements, its storage in the file holds 3/],
  ] as const) {
    assert.throws(
      () => new TorchScriptClassifier(join(FX, file), { inputShape: [1, 28, 28] }),
      (e: Error) => {
        assert.ok(e instanceof UnsafeScriptFileError, e.message);
        assert.match(e.message, re);
        assert.ok(
          e.message.startsWith(`${join(FX, file)}: `) &&
            e.message.endsWith('the file is damaged or was altered') &&
            !e.message.includes('\n'),
          e.message,
        );
        return true;
      },
    );
  }
  // the same file before the edit loads: its typed attributes are read as torch.jit.load reads them
  assert.doesNotThrow(() => loadScriptModule(join(FX, 'ts_typed.pt'), 'cpu'));
  assert.equal(liveTensors(), before);
  const r = sauron(['eval', '--model', join(FX, 'ts_overclaim.pt'), '--dataset', 'fashion-mnist', '--limit', '2']);
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr.trim(),
    /^[^\n]*ts_overclaim\.pt: tensor fc\.weight's storage claims 31360 bytes, its record in the file holds 7840; the file is damaged or was altered$/,
  );
});

test('bad TorchScript input: not a model, a dict output; no tensors leak', () => {
  const before = liveTensors();
  const dir = mkdtempSync(join(tmpdir(), 'sauron-ts-'));
  try {
    writeFileSync(join(dir, 'junk.pt'), 'not a model');
    assert.throws(() => new TorchScriptClassifier(join(dir, 'junk.pt'), { inputShape: [1, 28, 28] }), /is not a TorchScript model/);
    assert.throws(
      () => new TorchScriptClassifier(join(FX, 'ts_dict.pt'), { inputShape: [1, 28, 28] }),
      /forward must return a tensor or a tuple/,
    );
    assert.throws(
      () => new TorchScriptClassifier(join(FX, 'sd_torchvision_resnet18.pt'), { inputShape: [3, 32, 32] }),
      /is not a TorchScript model/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(liveTensors(), before);
});

test('state dicts in the robustness and torchvision layouts load into the zoo and match PyTorch', () => {
  const cases: [string, string, string, object][] = [
    ['sd_robustness_vgg.pt', 'vgg11', 'vgg', {}],
    [
      'sd_torchvision_resnet18.pt',
      'resnet18-imagenet',
      'tv',
      { inputShape: [3, 32, 32], normalization: { mean: [0, 0, 0], std: [1, 1, 1] } },
    ],
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
      if (key === 'vgg')
        assert.deepEqual(
          m.config.normalization.mean.map((v) => +v.toFixed(4)),
          [0.4914, 0.4822, 0.4465],
          'normalizer buffers',
        );
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
    const s = sauron([
      'sensitivity',
      '--model',
      model,
      '--dataset',
      'fashion-mnist',
      '--limit',
      '16',
      '--stats-split',
      'test',
      '--out',
      join(root, 's'),
    ]);
    assert.equal(s.status, 0, s.stderr);
    scope(() => assert.deepEqual(loadNpy(join(root, 's', 'deltas.npy')).shape, [24, 16]));
    const a = sauron([
      'attack',
      '--model',
      model,
      '--dataset',
      'fashion-mnist',
      '--attack',
      'kns',
      '--norm',
      'l2',
      '--eps',
      '1',
      '--neurons',
      '1,2',
      '--iterations',
      '3',
      '--limit',
      '4',
      '--sensitivity',
      join(root, 's'),
      '--out',
      join(root, 'a'),
    ]);
    assert.equal(a.status, 0, a.stderr);
    assert.ok(JSON.parse(readFileSync(join(root, 'a', 'results.json'), 'utf8')).knsSuccessRate);
    const e = sauron([
      'eval',
      '--model',
      join(FX, 'ts_logits.pt'),
      '--features-layer',
      'relu3',
      '--dataset',
      'fashion-mnist',
      '--limit',
      '20',
    ]);
    assert.equal(e.status, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).count, 20);
    const bad = sauron(['eval', '--model', join(FX, 'ts_dict.pt'), '--dataset', 'fashion-mnist', '--limit', '2']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /forward must return a tensor or a tuple/);
    const c = sauron([
      'convert',
      '--from',
      join(FX, 'sd_robustness_vgg.pt'),
      '--arch',
      'vgg11',
      '--dataset',
      'cifar10',
      '--out',
      join(root, 'c'),
    ]);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(JSON.parse(readFileSync(join(root, 'c', 'model.json'), 'utf8')).dataset, 'cifar10');
    const missing = sauron(['convert', '--from', join(FX, 'sd_robustness_vgg.pt'), '--arch', 'resnet18', '--out', join(root, 'd')]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /missing keys: conv1\.weight/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("sensitivity, attack and eval on a traced wrapper with --features-layer net.avgpool --mean --std: PyTorch's features, settings recorded", () => {
  const root = mkdtempSync(join(tmpdir(), 'sauron-ts-nested-'));
  try {
    const model = join(FX, 'ts_wrapped_traced.pt');
    const opts = ['--features-layer', 'net.avgpool', '--mean', FM_MEAN.join(','), '--std', FM_STD.join(','), '--dataset', 'fashion-mnist'];
    const used = {
      file: model,
      inputShape: [1, 28, 28],
      featuresLayer: 'net.avgpool',
      classifierParam: 'net.fc.weight',
      normalization: { mean: FM_MEAN, std: FM_STD },
    };
    const s = sauron(['sensitivity', '--model', model, ...opts, '--limit', '8', '--stats-split', 'test', '--out', join(root, 's')]);
    assert.equal(s.status, 0, s.stderr);
    scope(() => {
      // the first 8 Fashion-MNIST test images, normalised by Sauron, through PyTorch's network
      assert.ok(relErr(loadNpy(join(root, 's', 'features.npy')), nget('fmnist.features')) < 1e-5);
      assert.ok(relErr(loadNpy(join(root, 's', 'logits.npy')), nget('fmnist.logits')) < 1e-5);
    });
    assert.deepEqual(JSON.parse(readFileSync(join(root, 's', 'sauron-output.json'), 'utf8')).settings.torchscript, used);
    const a = sauron([
      'attack',
      '--model',
      model,
      ...opts,
      '--attack',
      'kns',
      '--norm',
      'l2',
      '--eps',
      '1',
      '--neurons',
      '1,2',
      '--iterations',
      '3',
      '--limit',
      '4',
      '--sensitivity',
      join(root, 's'),
      '--out',
      join(root, 'a'),
    ]);
    assert.equal(a.status, 0, a.stderr);
    const results = JSON.parse(readFileSync(join(root, 'a', 'results.json'), 'utf8'));
    assert.deepEqual(results.torchscript, used);
    assert.ok(results.knsSuccessRate);
    const p = sauron([
      'attack',
      '--model',
      model,
      ...opts,
      '--attack',
      'pgd',
      '--norm',
      'linf',
      '--eps',
      '0.1',
      '--iterations',
      '5',
      '--limit',
      '8',
      '--out',
      join(root, 'p'),
    ]);
    assert.equal(p.status, 0, p.stderr);
    assert.ok(
      JSON.parse(readFileSync(join(root, 'p', 'results.json'), 'utf8')).successRate > 0,
      'PGD through the captured forward fools some inputs',
    );
    const e = sauron(['eval', '--model', model, ...opts, '--limit', '8', '--out', join(root, 'e')]);
    assert.equal(e.status, 0, e.stderr);
    assert.deepEqual(JSON.parse(e.stdout).torchscript, used);
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'e', 'sauron-output.json'), 'utf8')).settings.torchscript, used);
    const bad = sauron([
      'eval',
      '--model',
      model,
      '--features-layer',
      'net.avgpool',
      '--mean',
      '0.5,0.5',
      '--std',
      '0.2,0.2',
      '--limit',
      '2',
    ]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--mean and --std need one value per channel \(1 for 1x28x28 images\), got 2 and 2/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('export round trip: every architecture family as TorchScript, loaded back, gives identical outputs', () => {
  const root = mkdtempSync(join(tmpdir(), 'sauron-export-'));
  try {
    const cases: [string, [number, number, number]][] = [
      ['small-cnn', [1, 28, 28]],
      ['vgg11', [3, 32, 32]],
      ['resnet18', [3, 16, 16]],
      ['resnet50-imagenet', [3, 64, 64]],
    ];
    for (const [arch, shape] of cases) {
      const m = createModel(
        {
          arch,
          inputShape: shape,
          numClasses: 10,
          width: 0.125,
          normalization: { mean: Array(shape[0]).fill(0.3), std: Array(shape[0]).fill(0.6) },
        },
        { generator: new Generator(2) },
      );
      try {
        m.train();
        scope(() => noGrad(() => m.forward(rand([4, ...shape])))); // non-trivial BN statistics
        m.eval();
        const run = join(root, arch);
        saveModel(run, m);
        const r = sauron(['export', '--model', run, '--out', join(root, `${arch}.pt`)]);
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
