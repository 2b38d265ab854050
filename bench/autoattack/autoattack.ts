// AutoAttack `standard` against fra31/auto-attack's own code: the default Fashion-MNIST model
// (`sauron train --dataset fashion-mnist`), Linf 0.02, the first 1,000 test inputs, same machine,
// same run. Sauron runs `sauron attack --attack autoattack` on the run folder; the reference runs
// on the same model exported with `sauron export` (bench/autoattack/pytorch_autoattack.py), on the same
// inputs. The reference is not vendored: give its checkout (git clone
// https://github.com/fra31/auto-attack) with --autoattack-dir or AUTOATTACK_DIR.
//   node --import tsx bench/autoattack/autoattack.ts --autoattack-dir ../auto-attack [--model runs/std] [--inputs 1000] [--keep DIR]
//     [--batch-size 1000] [--reference-bs 250] [--nproc 1,2]
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openDataset } from '../../src/data/registry.js';
import { saveNpy } from '../../src/serialization/npy.js';
import { scope } from '../../src/tensor/scope.js';
import { getNumThreads } from '../../src/tensor/runtime.js';
import { wilson } from '../../src/reports/intervals.js';
import { tableRow, torchEnv, updateBenchmarks } from '../shared/report.js';
import { BENCH, sauron } from '../shared/sauron.js';
import { cascadeFloor, passCosts, type CascadeCounts, type PassCosts } from './autoattackFloor.js';
import { meanQueryCost, squareQueryCosts } from './squareLocal.js';

const { values: a } = parseArgs({
  options: {
    'autoattack-dir': { type: 'string', default: process.env.AUTOATTACK_DIR },
    model: { type: 'string' },
    inputs: { type: 'string', default: '1000' },
    eps: { type: 'string', default: '0.02' },
    keep: { type: 'string' },
    'batch-size': { type: 'string', default: '1000' },
    'reference-bs': { type: 'string', default: '250' },
    nproc: { type: 'string', default: '1,2' },
    device: { type: 'string', default: 'cpu' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const refDir = a['autoattack-dir'];
if (!refDir || !existsSync(join(refDir, 'autoattack', 'autoattack.py'))) {
  throw new Error(
    'give a checkout of fra31/auto-attack with --autoattack-dir DIR or AUTOATTACK_DIR (git clone https://github.com/fra31/auto-attack)',
  );
}
const n = Number(a.inputs);
const eps = Number(a.eps);
const bs = Number(a['batch-size']);
const refBs = Number(a['reference-bs']);
// Sauron as one process on all threads, and as ranks (`sauron launch`) of one thread each
const nprocs = a.nproc!.split(',').map(Number);
const dir = resolve(a.keep ?? mkdtempSync(join(tmpdir(), 'sauron-autoattack-')));
mkdirSync(dir, { recursive: true });
// train and export show their progress here; the timed attacks below capture their stdout
const shown: ExecFileSyncOptions = { stdio: ['ignore', 'inherit', 'inherit'] };

// the default model: the one `sauron train --dataset fashion-mnist` trains (seed 0)
const model = resolve(a.model ?? join(dir, 'standard'));
if (!existsSync(join(model, 'model.json'))) sauron(['train', '--dataset', 'fashion-mnist', '--out', model], shown);
const exported = join(dir, 'model.pt');
sauron(['export', '--model', model, '--out', exported], shown);

// the inputs, as the reference takes them: [n, 1, 28, 28] float32 in [0, 1] and int64 labels
const ds = await openDataset('fashion-mnist', 'test');
const batch = await ds.load(Array.from({ length: n }, (_, i) => i));
scope(() => {
  saveNpy(join(dir, 'x.npy'), batch.images);
  saveNpy(join(dir, 'y.npy'), batch.labels);
});
batch.images.dispose();
batch.labels.dispose();

interface Run {
  nproc: number;
  wall: number;
  results: { seconds: number; cleanAccuracy: number; robustAccuracy: number; robustAccuracyByAttack: Record<string, number> };
  samples: string;
}
const runs: Run[] = nprocs.map((nproc) => {
  const out = join(dir, `sauron-${nproc}`);
  rmSync(out, { recursive: true, force: true });
  const attack = [
    'attack',
    '--attack',
    'autoattack',
    '--model',
    model,
    '--dataset',
    'fashion-mnist',
    '--split',
    'test',
    '--limit',
    String(n),
    '--norm',
    'linf',
    '--eps',
    String(eps),
    '--batch-size',
    String(bs),
    '--device',
    a.device!,
    '--out',
    out,
  ];
  const t0 = performance.now();
  sauron(nproc > 1 ? ['launch', '--nproc', String(nproc), '--', ...attack] : attack, { stdio: ['ignore', 'pipe', 'inherit'] });
  const wall = (performance.now() - t0) / 1000;
  return {
    nproc,
    wall,
    results: JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')),
    samples: readFileSync(join(out, 'samples.csv'), 'utf8'),
  };
});
const s = runs[0]!.results;

const ref = JSON.parse(
  execFileSync(
    a.python!,
    [
      join(BENCH, 'autoattack', 'pytorch_autoattack.py'),
      '--device',
      a.device!,
      '--model',
      exported,
      '--images',
      join(dir, 'x.npy'),
      '--labels',
      join(dir, 'y.npy'),
      '--norm',
      'Linf',
      '--eps',
      String(eps),
      '--bs',
      String(refBs),
      '--threads',
      String(getNumThreads()),
      '--autoattack-dir',
      resolve(refDir),
    ],
    { env: torchEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  ),
);

// inputs robust in one evaluation and not in the other
const sauronRobust = new Set<number>();
const [header, ...lines] = runs[0]!.samples.trim().split('\n');
const col = (name: string) => header!.split(',').indexOf(name);
for (const line of lines) {
  const c = line.split(',');
  if (c[col('clean_prediction')] === c[col('label')] && c[col('fooled_by')] === '') sauronRobust.add(Number(c[col('index')]));
}
const refRobust = (ref.robust as boolean[]).flatMap((r, i) => (r ? [i] : []));
const onlyRef = refRobust.filter((i) => !sauronRobust.has(i)).length;
const onlySauron = [...sauronRobust].filter((i) => !refRobust.includes(i)).length;

const pct = (x: number) => (100 * x).toFixed(1);
const interval = (x: number) =>
  wilson(Math.round(x * n), n)
    .map(pct)
    .join(' to ');
const order = ['apgd-ce', 'apgd-t', 'fab-t', 'square'] as const;
const threads = getNumThreads();
const label = (r: Run) => (r.nproc === 1 ? `Sauron, 1 process (${threads} threads)` : `Sauron, ${r.nproc} ranks (1 thread each)`);
const row = (name: string, cell: (r: Run) => string, refCell: string) => `| ${name} | ${runs.map(cell).join(' | ')} | ${refCell} |`;
const perAttack = order.map((k) =>
  row(
    `robust accuracy after ${k} %`,
    (r) => pct(r.results.robustAccuracyByAttack[k]!),
    ref.afterAttack[k] ? pct(ref.afterAttack[k].robustAccuracy) : '-',
  ),
);

// the passes no faithful implementation avoids, priced with Sauron's own passes at the size of
// Square's batch: on all threads, in bf16 (for the record), and on one thread per rank
function floorSection(): string {
  const counts = { inputs: n, after: Object.fromEntries(order.map((k) => [k, s.robustAccuracyByAttack[k]!])) as CascadeCounts['after'] };
  const robustRows = Math.max(16, Math.round(s.robustAccuracy * n));
  const query = (t: number) => {
    const sides = squareQueryCosts(model, robustRows, t);
    return sides ? { squareQuery: meanQueryCost(sides) } : {};
  };
  const costs = {
    all: { ...passCosts(model, robustRows, threads), ...query(threads) },
    bf16: passCosts(model, robustRows, threads, 'bf16'),
    one: { ...passCosts(model, robustRows, 1), ...query(1) },
  };
  // ranks split the inputs: at best each does 1/nproc of the passes, on its own core
  const ranks = Math.max(...nprocs);
  const floors = [
    { name: `1 process, ${threads} threads`, floor: cascadeFloor(counts, costs.all) },
    ...(ranks > 1
      ? [
          {
            name: `${ranks} ranks, 1 thread each`,
            floor: cascadeFloor(counts, {
              forward: costs.one.forward / ranks,
              gradient: costs.one.gradient / ranks,
              ...(costs.one.squareQuery ? { squareQuery: costs.one.squareQuery / ranks } : {}),
            }),
          },
        ]
      : []),
  ];
  const us = (c: PassCosts) => `${c.forward.toFixed(1)} | ${c.gradient.toFixed(1)} | ${c.squareQuery?.toFixed(1) ?? '-'}`;
  const speedUp = (seconds: number) => `${(ref.seconds / seconds).toFixed(2)}x`;
  const floorRows = floors.map((f) =>
    tableRow([f.name, ...order.map((k) => f.floor[k].toFixed(1)), f.floor.total.toFixed(1), speedUp(f.floor.total)]),
  );

  return `
**The least time these passes take.** Whatever an implementation saves, an input still robust after an attack has had all of its
passes (none of them stops early): 100 gradients under APGD-CE, 9 x 100 under APGD-T and under FAB-T (FAB's judging forward
not counted), 5,000 queries under Square. Sauron's passes through this model (eval mode, batch norm folded, ${robustRows} rows, the
faster of two rounds, microseconds per row; a Square query averaged over its schedule as Square runs it, full forwards for its
first squares and the local forward for the later ones, bench/autoattack/squareLocal.ts):

| passes | forward | forward + input gradient | Square query |
|---|---:|---:|---:|
| ${threads} threads, fp32 | ${us(costs.all)} |
| ${threads} threads, bf16 (autocast) | ${us(costs.bf16)} |
| 1 thread, fp32 | ${us(costs.one)} |

Seconds of those passes alone, by attack, and the largest speed-up over the reference's ${ref.seconds.toFixed(1)} s they leave:

| | ${order.join(' | ')} | total | largest speed-up |
|---|${order.map(() => '---:|').join('')}---:|---:|
${floorRows.join('\n')}
`;
}

const machine =
  a.device === 'cpu' ? `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${threads} threads` : `device ${a.device}`;
const robust = (x: number) => `${pct(x)} (${interval(x)})`;
const ranksNote = nprocs.some((p) => p > 1) ? ", as one process and as `sauron launch --nproc N` ranks sharing each attack's rows" : '';
const section = `## AutoAttack standard against the reference implementation (${new Date().toISOString().slice(0, 10)})

The default Fashion-MNIST model (\`sauron train --dataset fashion-mnist\`, seed 0), Linf eps ${eps}, the first ${n.toLocaleString('en')} test
inputs, ${machine}, fp32 on both sides. Sauron: \`sauron attack --attack autoattack
--batch-size ${bs}\` on the run folder (wall clock of the command, its checks included; every draw is seeded per input, so the batch
size and the ranks do not change its answers)${ranksNote}. Reference:
fra31/auto-attack's \`run_standard_evaluation\` (its own checks included, bs ${refBs}, its default) on the same model exported with
\`sauron export\`, PyTorch ${ref.torch}, ${threads} threads, seed 0. Produced by \`node --import tsx bench/autoattack/autoattack.ts --autoattack-dir DIR\`.
Target: Sauron at least 3x faster, robust accuracy within 1 point.

| | ${runs.map(label).join(' | ')} | reference |
|---|${runs.map(() => '---:|').join('')}---:|
${row('seconds', (r) => `${r.wall.toFixed(1)} (attack ${r.results.seconds.toFixed(1)})`, ref.seconds.toFixed(1))}
${row('speed-up', (r) => `${(ref.seconds / r.wall).toFixed(2)}x`, '1')}
${row('clean accuracy %', (r) => pct(r.results.cleanAccuracy), pct(ref.cleanAccuracy))}
${perAttack.join('\n')}
${row('robust accuracy % (Wilson 95%)', (r) => robust(r.results.robustAccuracy), robust(ref.robustAccuracy))}
${row('samples.csv identical to the 1-process run', (r) => (r.samples === runs[0]!.samples ? 'yes' : 'no'), '-')}

Inputs robust only in Sauron's evaluation: ${onlySauron}; only in the reference's: ${onlyRef}. The reference's time per attack, from
its log: ${order.map((k) => `${k} ${(ref.afterAttack[k]?.seconds ?? 0).toFixed(1)} s`).join(', ')} (cumulative).
${a.device === 'cpu' ? floorSection() : ''}`;
console.log(section);
updateBenchmarks('## AutoAttack standard against the reference implementation', section);
if (!a.keep) rmSync(dir, { recursive: true, force: true });
