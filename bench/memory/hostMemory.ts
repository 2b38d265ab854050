// Host memory: the attack step of the default small CNN at growing row counts, with the addon's
// malloc settings (large blocks kept in glibc's heap) and with those at filing (glibc's largest
// mmap threshold, 32 MB: larger blocks mapped afresh and faulted in on every step, set through
// MALLOC_* in the environment), and PyTorch's step under glibc's defaults, same machine, same
// run, each in its own process. Best of 2 interleaved rounds.
//   node --import tsx bench/memory/hostMemory.ts
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { getNumThreads } from '../../src/tensor/index.js';
import { FILING_MALLOC, torchEnv, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';

const ROWS = [256, 512, 1024, 2048];
type Step = { rows: number; ms: number; faultMib: number };
const sauron = (env: Record<string, string>): Step[] =>
  JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', join(BENCH, 'memory', 'hostMemoryStep.ts'), ...ROWS.map(String)], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop()!,
  ).steps;
let torchVersion = '';
const torch = (): Step[] => {
  const r = JSON.parse(
    execFileSync(
      '/usr/bin/python3',
      [join(BENCH, 'memory', 'pytorch_input_grad_step.py'), '--threads', String(getNumThreads()), ...ROWS.map(String)],
      { env: torchEnv(), encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .pop()!,
  );
  torchVersion = r.torch;
  return r.steps;
};
const best = (runs: Step[][]): Step[] => runs[0]!.map((s, i) => runs.reduce((b, r) => (r[i]!.ms < b.ms ? r[i]! : b), s));
const kept: Step[][] = [];
const mapped: Step[][] = [];
const py: Step[][] = [];
for (let round = 0; round < 2; round++) {
  kept.push(sauron({}));
  mapped.push(sauron(FILING_MALLOC));
  py.push(torch());
}
const [k, m, p] = [best(kept), best(mapped), best(py)];
const rows = ROWS.map(
  (n, i) =>
    `| ${n} | ${p[i]!.ms.toFixed(1)} (${p[i]!.faultMib.toFixed(0)}) | ${m[i]!.ms.toFixed(1)} (${m[i]!.faultMib.toFixed(0)}) | ` +
    `${k[i]!.ms.toFixed(1)} (${k[i]!.faultMib.toFixed(0)}) | ${(m[i]!.ms / k[i]!.ms).toFixed(2)}x | ${(p[i]!.ms / k[i]!.ms).toFixed(2)}x |`,
);
const section = `## Host memory: large blocks kept in the heap (${new Date().toISOString().slice(0, 10)})

Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${getNumThreads()} threads, load average ${loadavg()[0]!.toFixed(1)} at the end.
One attack step (forward, cross-entropy, input gradient, L2 step) of the default small CNN (width 0.5, Fashion-MNIST shape),
batch norm folded in Sauron, as a layer in PyTorch ${torchVersion} (glibc's defaults, the same BLAS). Milliseconds per step, and in brackets
MiB faulted in per step. "Mapped": the addon's settings at filing (mmap threshold at glibc's 32 MB cap), given through
\`MALLOC_MMAP_THRESHOLD_\`/\`MALLOC_TRIM_THRESHOLD_\`; "kept": today's default (\`mallopt(M_MMAP_MAX, 0)\`). k-NS steps 16 rows per
input, so \`sauron attack --attack kns\`'s default batch of 128 inputs is 2,048 rows. Best of 2 interleaved rounds, each
configuration in its own process. Produced by \`node --import tsx bench/memory/hostMemory.ts\`.

| rows | PyTorch ms (MiB) | Sauron mapped ms (MiB) | Sauron kept ms (MiB) | mapped / kept | PyTorch / Sauron kept |
|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Below about 640 rows every block stays under 32 MB and neither setting faults anything in, so the gap at 256 and 512 rows is
this VM's drift between runs (about 10% between runs minutes apart elsewhere in this file), not the setting: a guess, not
checked by repeating.
`;
updateBenchmarks('## Host memory', section);
console.log(section);
