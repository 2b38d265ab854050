// Attack throughput: input-gradient steps per second of Sauron's PGD against the same PGD in
// Python PyTorch (bench/attacks/pytorch_attack.py), same model, batch and machine, same run.
//   node --import tsx bench/attacks/attack.ts
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createModel, Generator, scope } from '../../src/index.js';
import { rand, randint, getNumThreads } from '../../src/tensor/index.js';
import { pgdAttack } from '../../src/attacks/pgd.js';
import { tableRow, torchEnv, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';

const CASES = [
  { arch: 'vgg19', input: [3, 32, 32] as [number, number, number], width: 1, batch: 32, iterations: 10 },
  { arch: 'small-cnn', input: [1, 28, 28] as [number, number, number], width: 0.5, batch: 256, iterations: 20 },
];
const rounds = 3;

function sauron(c: (typeof CASES)[number]): number {
  const g = new Generator(0);
  const model = createModel({ arch: c.arch, inputShape: c.input, numClasses: 10, width: c.width }, { generator: g });
  const images = rand([c.batch, ...c.input], { generator: g }).keep();
  const labels = randint(0, 10, [c.batch], { generator: g }).keep();
  const b = { images, labels, indices: Array.from({ length: c.batch }, (_, i) => i) };
  // the full protocol: every row runs every iteration, as in the PyTorch loop it is timed against
  const cfg = { norm: 'l2' as const, eps: 0.5, restarts: 1, randomStart: false, seed: 0, earlyStop: false };
  scope(() => pgdAttack(model, b, { ...cfg, iterations: 2 })); // warm-up
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    scope(() => pgdAttack(model, b, { ...cfg, iterations: c.iterations }));
    times.push((performance.now() - t0) / 1000);
  }
  model.dispose();
  images.dispose();
  labels.dispose();
  return (c.batch * c.iterations) / Math.min(...times);
}

const rows: string[] = [];
let torchVersion = '';
for (const c of CASES) {
  const s = sauron(c);
  const p = JSON.parse(
    execFileSync(
      '/usr/bin/python3',
      [
        join(BENCH, 'attacks', 'pytorch_attack.py'),
        '--arch',
        c.arch,
        '--input',
        c.input.join('x'),
        '--width',
        String(c.width),
        '--batch',
        String(c.batch),
        '--iterations',
        String(c.iterations),
        '--rounds',
        String(rounds),
        '--threads',
        String(getNumThreads()),
      ],
      { env: torchEnv(), encoding: 'utf8' },
    ),
  );
  torchVersion = p.torch;
  rows.push(
    tableRow([
      `${c.arch} ${c.input.join('x')}${c.width !== 1 ? ` (width ${c.width})` : ''}, batch ${c.batch}, ${c.iterations} iterations`,
      s.toFixed(1),
      p.stepsPerSecond.toFixed(1),
      (p.stepsPerSecond / s).toFixed(3),
    ]),
  );
  console.error(rows.at(-1));
}
const section = [
  `## Attack: PGD throughput (${new Date().toISOString().slice(0, 10)})`,
  '',
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ${getNumThreads()} threads in both. PyTorch ${torchVersion}.`,
  "L2 PGD (eps 0.5, no random start) keeping each row's best iterate; input-gradient steps per second = batch x iterations / seconds,",
  `best of ${rounds} runs each. Produced by \`node --import tsx bench/attacks/attack.ts\`. Target: Sauron time / PyTorch time at most 1.1.`,
  '',
  '| model and attack | Sauron steps/s | PyTorch steps/s | Sauron time / PyTorch time |',
  '|---|---:|---:|---:|',
  ...rows,
  '',
].join('\n');
updateBenchmarks('## Attack: PGD throughput', section);
console.log(section);
