// The full Fashion-MNIST `sauron reproduce` on this machine, timed step by step: runs it into a
// fresh folder (or, with --from, summarises a folder a finished run left: each step records its
// own seconds in steps/*.json), and writes the split and Table 1 to BENCHMARKS.md.
//   node --import tsx bench/reproduce/reproduce.ts [--from runs/repro-cpu] [--keep DIR] [--seed N]
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { blasLibrary, getNumThreads } from '../../src/tensor/index.js';
import { updateBenchmarks } from '../shared/report.js';
import { ROOT, sauron } from '../shared/sauron.js';

const { values: a } = parseArgs({ options: { from: { type: 'string' }, keep: { type: 'string' }, seed: { type: 'string' } } });
let dir = a.from;
let wall: number | null = null;
if (!dir) {
  dir = a.keep ?? mkdtempSync(join(tmpdir(), 'sauron-reproduce-'));
  const t0 = performance.now();
  sauron(['reproduce', '--out', dir, ...(a.seed === undefined ? [] : ['--seed', a.seed])], { stdio: 'inherit' });
  wall = (performance.now() - t0) / 1000;
}
if (!existsSync(join(dir, 'steps'))) throw new Error(`${dir} is not a reproduce folder (no steps/)`);
const settings = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')).settings;
if (settings.dataset !== 'fashion-mnist' || settings.inputs !== 1000) throw new Error(`${dir} is not the full Fashion-MNIST reproduction`);
const steps = readdirSync(join(dir, 'steps'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir!, 'steps', f), 'utf8')) as { id: string; seconds: number; finished: string });
const parts = new Map<string, number>();
for (const s of steps) parts.set(s.id.split('-')[0]!, (parts.get(s.id.split('-')[0]!) ?? 0) + s.seconds);
const total = [...parts.values()].reduce((x, y) => x + y, 0);
const names: Record<string, string> = {
  train: 'training (4 models)',
  sensitivity: 'sensitivity (4 models)',
  attack: 'Table 1 attacks (PGD and k-NS, 2 norms, 4 models, 1,000 inputs)',
  sweep: 'budget sweep (PGD and 1-NS, 500 inputs)',
  pruning: 'pruning curves',
};
const ORDER = ['train', 'sensitivity', 'attack', 'sweep', 'pruning'];
const min = (s: number) => `${(s / 60).toFixed(1)} min`;
const table = readFileSync(join(dir, 'table1.md'), 'utf8').trim();
const timed =
  wall === null ? ` (a finished folder, \`${dir.replace(`${ROOT}/`, '')}\`, summarised with \`--from\`)` : `; wall clock ${min(wall)}`;
const section = `## The full Fashion-MNIST reproduction (${new Date().toISOString().slice(0, 10)})

\`sauron reproduce\` (full default: 4 models, every Table 1 column on the first 1,000 test inputs, budget sweep, pruning), seed ${settings.seed},
${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${getNumThreads()} threads, BLAS: ${blasLibrary() ?? 'unknown'}, one process.
Minutes per part from the steps' own timings${timed}.
${wall === null ? '' : `load average ${loadavg()[0]!.toFixed(1)} at the end. `}Produced by \`node --import tsx bench/reproduce/reproduce.ts\`.

| part | time |
|---|---:|
${[...parts]
  .sort(([x], [y]) => ORDER.indexOf(x) - ORDER.indexOf(y))
  .map(([k, v]) => `| ${names[k] ?? k} | ${min(v)} |`)
  .join('\n')}
| **total** | **${min(total)}** |

Its Table 1 (success = the prediction changed, percent of the 1,000 inputs):

${table}
`;
updateBenchmarks('## The full Fashion-MNIST reproduction', section);
console.log(section);
if (!a.from && !a.keep) rmSync(dir, { recursive: true, force: true });
