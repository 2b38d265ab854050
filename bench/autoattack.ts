// AutoAttack `standard` against fra31/auto-attack's own code: the default Fashion-MNIST model
// (`sauron train --dataset fashion-mnist`), Linf 0.02, the first 1,000 test inputs, same machine,
// same run. Sauron runs `sauron attack --attack autoattack` on the run folder; the reference runs
// on the same model exported with `sauron export` (bench/pytorch_autoattack.py), on the same
// inputs. The reference is not vendored: give its checkout (git clone
// https://github.com/fra31/auto-attack) with --autoattack-dir or AUTOATTACK_DIR.
//   node --import tsx bench/autoattack.ts --autoattack-dir ../auto-attack [--model runs/std] [--inputs 1000] [--keep DIR]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openDataset } from '../src/data/registry.js';
import { saveNpy } from '../src/serialization/npy.js';
import { scope } from '../src/tensor/scope.js';
import { getNumThreads } from '../src/tensor/runtime.js';
import { wilson } from '../src/reports/intervals.js';
import { torchEnv, updateBenchmarks } from './report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: a } = parseArgs({ options: {
  'autoattack-dir': { type: 'string', default: process.env.AUTOATTACK_DIR }, model: { type: 'string' }, inputs: { type: 'string', default: '1000' },
  eps: { type: 'string', default: '0.02' }, keep: { type: 'string' }, 'batch-size': { type: 'string', default: '250' },
  device: { type: 'string', default: 'cpu' }, python: { type: 'string', default: '/usr/bin/python3' },
} });
const refDir = a['autoattack-dir'];
if (!refDir || !existsSync(join(refDir, 'autoattack', 'autoattack.py'))) {
  throw new Error('give a checkout of fra31/auto-attack with --autoattack-dir DIR or AUTOATTACK_DIR (git clone https://github.com/fra31/auto-attack)');
}
const n = Number(a.inputs);
const eps = Number(a.eps);
const bs = Number(a['batch-size']);
const dir = resolve(a.keep ?? mkdtempSync(join(tmpdir(), 'sauron-autoattack-')));
mkdirSync(dir, { recursive: true });
// bin/sauron.js in the repository; the compiled CLI beside this file in the GPU check's .gpu/js
const here = dirname(fileURLToPath(import.meta.url));
const cli = existsSync(join(root, 'bin', 'sauron.js')) ? join(root, 'bin', 'sauron.js') : join(here, '..', 'src', 'cli', 'main.js');
const sauron = (args: string[], stdio: 'inherit' | 'pipe' = 'inherit') =>
  execFileSync(process.execPath, [cli, ...args], { stdio: ['ignore', stdio === 'inherit' ? 'inherit' : 'pipe', 'inherit'], encoding: 'utf8' });

// the default model: the one `sauron train --dataset fashion-mnist` trains (seed 0)
const model = resolve(a.model ?? join(dir, 'standard'));
if (!existsSync(join(model, 'model.json'))) sauron(['train', '--dataset', 'fashion-mnist', '--out', model]);
const exported = join(dir, 'model.pt');
sauron(['export', '--model', model, '--out', exported]);

// the inputs, as the reference takes them: [n, 1, 28, 28] float32 in [0, 1] and int64 labels
const ds = await openDataset('fashion-mnist', 'test');
const batch = await ds.load(Array.from({ length: n }, (_, i) => i));
scope(() => {
  saveNpy(join(dir, 'x.npy'), batch.images);
  saveNpy(join(dir, 'y.npy'), batch.labels);
});
batch.images.dispose();
batch.labels.dispose();

const out = join(dir, 'sauron');
rmSync(out, { recursive: true, force: true });
const t0 = performance.now();
sauron(['attack', '--attack', 'autoattack', '--model', model, '--dataset', 'fashion-mnist', '--split', 'test', '--limit', String(n),
  '--norm', 'linf', '--eps', String(eps), '--batch-size', String(bs), '--device', a.device!, '--out', out], 'pipe');
const sauronWall = (performance.now() - t0) / 1000;
const s = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));

const ref = JSON.parse(execFileSync(a.python!, [join(here, 'pytorch_autoattack.py'), '--device', a.device!, '--model', exported,
  '--images', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--norm', 'Linf', '--eps', String(eps), '--bs', String(bs),
  '--threads', String(getNumThreads()), '--autoattack-dir', resolve(refDir)], { env: torchEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));

// inputs robust in one evaluation and not in the other
const sauronRobust = new Set<number>();
const [header, ...lines] = readFileSync(join(out, 'samples.csv'), 'utf8').trim().split('\n');
const col = (name: string) => header!.split(',').indexOf(name);
for (const line of lines) {
  const c = line.split(',');
  if (c[col('clean_prediction')] === c[col('label')] && c[col('fooled_by')] === '') sauronRobust.add(Number(c[col('index')]));
}
const refRobust = (ref.robust as boolean[]).flatMap((r, i) => (r ? [i] : []));
const onlyRef = refRobust.filter((i) => !sauronRobust.has(i)).length;
const onlySauron = [...sauronRobust].filter((i) => !refRobust.includes(i)).length;

const pct = (x: number) => (100 * x).toFixed(1);
const interval = (x: number) => wilson(Math.round(x * n), n).map(pct).join(' to ');
const order = ['apgd-ce', 'apgd-t', 'fab-t', 'square'];
const perAttack = order.map((k) => `| robust accuracy after ${k} | ${pct(s.robustAccuracyByAttack[k])} | ${ref.afterAttack[k] ? pct(ref.afterAttack[k].robustAccuracy) : '-'} |`);
const section = `## AutoAttack standard against the reference implementation (${new Date().toISOString().slice(0, 10)})

The default Fashion-MNIST model (\`sauron train --dataset fashion-mnist\`, seed 0), Linf eps ${eps}, the first ${n.toLocaleString('en')} test
inputs, batches of ${bs} on both sides (the reference's default), ${a.device === 'cpu' ? `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${getNumThreads()} threads
in both` : `device ${a.device}`}. Sauron: \`sauron attack --attack autoattack\` on the run folder (wall clock of the command, its checks included).
Reference: fra31/auto-attack's \`run_standard_evaluation\` (its own checks included) on the same model exported with
\`sauron export\`, PyTorch ${ref.torch}, seed 0. Produced by \`node --import tsx bench/autoattack.ts --autoattack-dir DIR\`.
Target: Sauron at least 3x faster, robust accuracy within 1 point.

| | Sauron | reference |
|---|---:|---:|
| seconds | ${sauronWall.toFixed(1)} (attack ${s.seconds.toFixed(1)}) | ${ref.seconds.toFixed(1)} |
| speed-up | ${(ref.seconds / sauronWall).toFixed(2)}x | 1 |
| clean accuracy % | ${pct(s.cleanAccuracy)} | ${pct(ref.cleanAccuracy)} |
${perAttack.join('\n')}
| robust accuracy % (Wilson 95%) | ${pct(s.robustAccuracy)} (${interval(s.robustAccuracy)}) | ${pct(ref.robustAccuracy)} (${interval(ref.robustAccuracy)}) |
| inputs robust only here | ${onlySauron} | ${onlyRef} |
`;
console.log(section);
updateBenchmarks('## AutoAttack standard against the reference implementation', section);
if (!a.keep) rmSync(dir, { recursive: true, force: true });
