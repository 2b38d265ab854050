// Every program in examples/ run as a user runs it (node with tsx, importing 'sauron' and its
// subpaths), in its --tiny mode, with outputs in a temp folder; each output checked against what
// it must be (shapes, budgets, rates in range, files that agree with each other), not against
// numbers copied from an earlier run. The examples resolve 'sauron' through the package's own
// "exports" (dist/, built by `npm ci`); without dist/ they run on the sources through
// examples/tsconfig.json's paths, as bin/sauron.js falls back to them.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadFashionMnist, scope } from '../../src/index.js';
import { loadNpy } from '../../src/serialization/index.js';
import { sauron } from '../support/cli.js';
import { ROOT } from '../support/helpers.js';

const EXAMPLES = join(ROOT, 'examples');
const TMP = mkdtempSync(join(tmpdir(), 'sauron-examples-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const RUN = join(TMP, 'run'); // the model examples/train-regularizer.ts trains, which the others take
const TSX = import.meta.resolve('tsx');
const env = existsSync(join(ROOT, 'dist', 'index.js'))
  ? { ...process.env }
  : { ...process.env, TSX_TSCONFIG_PATH: join(EXAMPLES, 'tsconfig.json') };

/** Runs an example from the temp folder (pass --tiny to those that have a tiny mode); its stdout. */
function example(file: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', TSX, join(EXAMPLES, file), ...args], { cwd: TMP, env, encoding: 'utf8' });
  assert.equal(r.status, 0, `${file} failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stdout + r.stderr).slice(-4000)}`);
  return r.stdout;
}

/** The number after `label` in the output (a percentage as a fraction when it ends in %). */
function num(out: string, label: string): number {
  const m = new RegExp(`${label} (-?[0-9.e+-]+)(%?)`).exec(out);
  assert.ok(m, `no "${label}" in:\n${out}`);
  return Number(m[1]) / (m[2] ? 100 : 1);
}

test('examples/tsconfig.json typechecks every example against the package entries', () => {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(EXAMPLES, 'tsconfig.json'), '--noEmit'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const f of ['analyse-torchscript.ts', 'attack-batch.ts', 'train-regularizer.ts', 'autoattack.ts', 'read-results.ts']) {
    const src = readFileSync(join(EXAMPLES, f), 'utf8');
    const specifiers = [...src.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
    for (const s of specifiers)
      assert.match(
        s,
        /^(node:|sharp$|sauron(\/(tensor|nn|optim|serialization))?$)/,
        `${f} imports ${s}: examples use the package's public entries`,
      );
    assert.ok(src.split('\n').length <= 80, `${f} is over 80 lines`);
  }
});

test('train-regularizer: trains with the regularizer, reports progress, writes a run folder', () => {
  const out = example('train-regularizer.ts', '--tiny', '--out', RUN);
  assert.match(out, /epoch 1\/1 train \d+\/\d+ \(loss [0-9.]+/);
  for (const f of ['model.safetensors', 'model.json', 'metrics.jsonl', 'config.json']) assert.ok(existsSync(join(RUN, f)), f);
  const config = JSON.parse(readFileSync(join(RUN, 'config.json'), 'utf8'));
  assert.equal(config.method, 'sensitivity');
  assert.equal(config.width, 0.25);
  const metrics = readFileSync(join(RUN, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(metrics.length, 1);
  // the final evaluation is of the last epoch's weights: the accuracy printed is the epoch's
  const accuracy = num(out, 'test accuracy');
  assert.ok(Math.abs(accuracy - metrics[0].testAccuracy) < 0.001, `${accuracy} vs ${metrics[0].testAccuracy}`);
});

test('attack-batch: PGD and k-NS examples of the first test images, within the budget, saved as .npy and PNG', async () => {
  const dir = join(TMP, 'attack-batch');
  const out = example('attack-batch.ts', '--tiny', '--model', RUN, '--out', dir, '--norm', 'l2', '--eps', '0.3');
  const pgd = num(out, 'PGD fooled');
  assert.ok(Number.isInteger(pgd) && pgd >= 0 && pgd <= 16, out);
  const first = await loadFashionMnist('test').load(Array.from({ length: 16 }, (_, i) => i));
  scope(() => {
    const clean = loadNpy(join(dir, 'clean.npy'));
    assert.deepEqual(clean.shape, [16, 1, 28, 28]);
    assert.equal(clean.sub(first.images).abs().max().item(), 0, 'clean.npy holds the first 16 test images');
    for (const name of ['pgd.npy', 'kns.npy']) {
      const adv = loadNpy(join(dir, name));
      assert.deepEqual(adv.shape, [16, 1, 28, 28], name);
      assert.ok(adv.min().item() >= 0 && adv.max().item() <= 1, `${name}: pixels in [0, 1]`);
      const l2 = adv.sub(clean).flatten(1).norm(2, 1).toNumbers();
      assert.ok(
        l2.every((v) => v <= 0.3 + 1e-4),
        `${name}: L2 norms ${l2} within eps 0.3`,
      );
    }
  });
  first.images.dispose();
  first.labels.dispose();
  const png = await sharp(join(dir, 'attacks.png')).metadata();
  assert.deepEqual([png.width, png.height], [3 * 28, 16 * 28]);
});

test('autoattack: robust accuracy in [0, 1], inside its Wilson interval, not above the clean accuracy', () => {
  const out = example('autoattack.ts', '--tiny', '--model', RUN);
  assert.match(out, /AutoAttack custom \(apgd-ce\)/);
  const clean = num(out, 'clean accuracy');
  const robust = num(out, 'robust accuracy');
  const m = /95% interval ([0-9.]+)% to ([0-9.]+)%, (\d+)\/(\d+)/.exec(out);
  assert.ok(m, out);
  const [low, high, hits, n] = [Number(m[1]) / 100, Number(m[2]) / 100, Number(m[3]), Number(m[4])];
  assert.equal(n, 16);
  assert.ok(Math.abs(robust - hits / n) < 0.001);
  assert.ok(robust >= 0 && robust <= clean && clean <= 1, out);
  assert.ok(low <= robust && robust <= high && low >= 0 && high <= 1, out);
  assert.equal(num(out, 'after apgd-ce:'), robust, 'with one attack, the robust accuracy after it is the final one');
});

/** The ten rows of the neuron table: [neuron, mean scaled Delta]. */
function neuronRows(out: string, featureDim: number): [number, number][] {
  const rows = out
    .split('\n')
    .filter((l) => /^\s*\d+\s/.test(l) && / images$/.test(l))
    .map((l) => l.trim().split(/\s+/))
    .map((c) => [Number(c[0]), Number(c[1])] as [number, number]);
  assert.equal(rows.length, 10, out);
  assert.equal(new Set(rows.map((r) => r[0])).size, 10, 'ten different neurons');
  assert.ok(
    rows.every(([i]) => Number.isInteger(i) && i >= 0 && i < featureDim),
    out,
  );
  for (let k = 1; k < 10; k++) assert.ok(Math.abs(rows[k]![1]) >= Math.abs(rows[k - 1]![1]), 'most sensitive first');
  return rows;
}

test('analyse-torchscript: a scripted torchvision ResNet (fixture) on Fashion-MNIST, ten most sensitive neurons', () => {
  const out = example(
    'analyse-torchscript.ts',
    '--tiny',
    '--model',
    join(ROOT, 'fixtures', 'torchscript', 'ts_wrapped.pt'),
    '--features-layer',
    'net.avgpool',
  );
  assert.match(out, /64 images, 16 feature neurons, 10 classes/);
  neuronRows(out, 16);
});

// A user's model: scripted by PyTorch, RGB, logits only; its images a folder of PNG files.
const SCRIPT = `
import sys, torch, torch.nn as nn
torch.manual_seed(0)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 24)
        self.act = nn.ReLU()
        self.head = nn.Linear(24, 3)
    def forward(self, x):
        h = torch.max_pool2d(torch.relu(self.conv(x)), 2).flatten(1)
        return self.head(self.act(self.fc(h)))
torch.jit.save(torch.jit.script(Net().eval()), sys.argv[1])
`;

test('analyse-torchscript: a PyTorch-scripted RGB model on an image folder', async (t) => {
  const model = join(TMP, 'user-model.pt');
  writeFileSync(join(TMP, 'user_model.py'), SCRIPT); // torch.jit.script reads the class's source file
  const py = spawnSync('/usr/bin/python3', [join(TMP, 'user_model.py'), model], { encoding: 'utf8' });
  if (py.error || py.status !== 0)
    return t.skip(`needs Debian's python3-torch (${py.error?.message ?? py.stderr.trim().split('\n').pop()})`);
  const folder = join(TMP, 'images');
  let seed = 1;
  const byte = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % 256;
  };
  for (const c of ['boots', 'coats', 'shirts']) {
    mkdirSync(join(folder, c), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const px = Buffer.from(Array.from({ length: 20 * 20 * 3 }, byte));
      await sharp(px, { raw: { width: 20, height: 20, channels: 3 } })
        .png()
        .toFile(join(folder, c, `${i}.png`));
    }
  }
  const out = example(
    'analyse-torchscript.ts',
    '--tiny',
    '--model',
    model,
    '--images',
    folder,
    '--image-size',
    '16',
    '--features-layer',
    'act',
  );
  assert.match(out, /12 images, 24 feature neurons, 3 classes/);
  neuronRows(out, 24);
});

test('read-results: reads an attack folder the CLI wrote and the model run folder; its L2 norms agree with samples.csv', () => {
  const dir = join(TMP, 'pgd');
  const cli = sauron([
    'attack',
    '--model',
    RUN,
    '--attack',
    'pgd',
    '--norm',
    'l2',
    '--eps',
    '0.3',
    '--limit',
    '12',
    '--iterations',
    '3',
    '--save-examples',
    '--out',
    dir,
  ]);
  assert.equal(cli.status, 0, cli.stderr);
  const out = example('read-results.ts', '--attack-run', dir, '--model', RUN);
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  assert.match(
    out,
    new RegExp(`pgd l2 eps 0.3 on 12 inputs: clean accuracy ${results.cleanAccuracy}, success rate ${results.successRate}`),
  );
  assert.match(out, /samples.csv: 12 rows/);
  assert.match(out, /adversarial.npy: \[12, 1, 28, 28\]/);
  assert.ok(num(out, "between the recomputed L2 norms and samples.csv's:") < 1e-4, out);
  assert.match(out, /model: small-cnn width 0.25, \d+ tensors/);
  assert.match(out, /epoch 1: test accuracy/);
});
