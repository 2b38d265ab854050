// BLIS's thread count: one thread (BLIS's own default, which PyTorch keeps) against libtorch's
// count (what the addon gives it), for the default model's fully connected layer and its whole
// attack step, in Sauron (bench/blas/blisThreadsRun.ts) and PyTorch (bench/maxPool/pytorch_max_pool.py's
// step and layer), each side in fresh processes, rounds alternating.
//   node --import tsx bench/blas/blisThreads.ts
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { blasLibrary, getNumThreads } from '../../src/tensor/index.js';
import { torchEnv, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';

const threads = getNumThreads();
const counts = [1, threads];
const rounds = 2;
const { BLIS_NUM_THREADS: _, ...env } = process.env;
const sauron = (n: number) =>
  JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', join(BENCH, 'blas', 'blisThreadsRun.ts')], {
      encoding: 'utf8',
      env: { ...env, BLIS_NUM_THREADS: String(n) },
    })
      .trim()
      .split('\n')
      .pop()!,
  ) as { linear: number; step: number };
const torch = (n: number) =>
  JSON.parse(
    execFileSync(
      '/usr/bin/python3',
      [join(BENCH, 'maxPool', 'pytorch_max_pool.py'), '--threads', String(threads), '--linear', '256x1568x128'],
      { encoding: 'utf8', env: { ...torchEnv(), BLIS_NUM_THREADS: String(n) } },
    )
      .trim()
      .split('\n')
      .pop()!,
  ) as { linear: number; step: number; torch: string };
const best: Record<string, { linear: number; step: number }> = {};
let version = '';
for (let r = 0; r < rounds; r++) {
  for (const n of r % 2 ? [...counts].reverse() : counts) {
    for (const [side, run] of [
      ['sauron', sauron],
      ['torch', torch],
    ] as const) {
      const m = run(n);
      if ('torch' in m) version = (m as { torch: string }).torch;
      const k = `${side}${n}`;
      best[k] = { linear: Math.min(best[k]?.linear ?? Infinity, m.linear), step: Math.min(best[k]?.step ?? Infinity, m.step) };
    }
  }
}
const cell = (k: string, f: 'linear' | 'step') => best[k]![f].toFixed(2);
const what = {
  linear: 'fully connected layer 1568 -> 128, forward and backward to the input, 256 rows',
  step: 'input-gradient step, small-cnn width 0.5, batch 256',
};
const rows = (['linear', 'step'] as const).map(
  (f) =>
    `| ${what[f]} | ` +
    `${cell('sauron1', f)} | ${cell(`sauron${threads}`, f)} | ${(best.sauron1![f] / best[`sauron${threads}`]![f]).toFixed(2)}x | ` +
    `${cell('torch1', f)} | ${cell(`torch${threads}`, f)} | ${(best.torch1![f] / best[`torch${threads}`]![f]).toFixed(2)}x |`,
);
const section = `## Attack step: BLIS threads (${new Date().toISOString().slice(0, 10)})

Milliseconds, best of ${rounds} processes per setting (each the best of 5 rounds of 10 calls), libtorch on ${threads} threads,
${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} at the end; BLAS: ${blasLibrary()}; PyTorch ${version} in the same run.
BLIS runs on one thread unless BLIS_NUM_THREADS says otherwise, and PyTorch leaves it so; the addon gives it libtorch's
count. Eval mode, batch norm as a layer, random weights and inputs. Produced by \`node --import tsx bench/blas/blisThreads.ts\`.

| what | Sauron, BLIS 1 thread | Sauron, BLIS ${threads} | speed-up | PyTorch, BLIS 1 thread | PyTorch, BLIS ${threads} | speed-up |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}
`;
updateBenchmarks('## Attack step: BLIS threads', section);
console.log(section);
