// Engine benchmark: `sauron bench` against the same model in Python PyTorch (Debian's
// python3-torch), same machine, same run, interleaved rounds. Writes BENCHMARKS.md.
//   node --import tsx bench/engine/engine.ts [--rounds 3] [--arch vgg19] [--batch 64] [--steps 10]
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { tableRow, torchEnv, updateBenchmarks } from '../shared/report.js';
import { BENCH, sauron } from '../shared/sauron.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const rounds = Number(opt('rounds', '3'));
const arch = opt('arch', 'vgg19');
const input = opt('input', '3x32x32');
const batch = opt('batch', '64');
const steps = opt('steps', '10');
const python = opt('python', '/usr/bin/python3');

interface Run {
  trainStepMs: number;
  inputGradStepMs: number;
  threads: number;
}

function sauronBench(): Run & { libtorch: string } {
  return JSON.parse(sauron(['bench', '--arch', arch, '--input', input, '--batch', batch, '--steps', steps, '--json']));
}

function pytorch(): Run & { torch: string } {
  const out = execFileSync(
    python,
    [join(BENCH, 'engine', 'pytorch_engine.py'), '--arch', arch, '--input', input, '--batch', batch, '--steps', steps],
    { env: torchEnv(), encoding: 'utf8' },
  );
  return JSON.parse(out);
}

const s: (Run & { libtorch: string })[] = [];
const p: (Run & { torch: string })[] = [];
for (let r = 0; r < rounds; r++) {
  // alternate the order so neither engine always runs on a warmer machine
  if (r % 2 === 0) {
    s.push(sauronBench());
    p.push(pytorch());
  } else {
    p.push(pytorch());
    s.push(sauronBench());
  }
  console.error(
    `round ${r + 1}/${rounds}: sauron train ${s.at(-1)!.trainStepMs.toFixed(1)} ms, input-grad ${s.at(-1)!.inputGradStepMs.toFixed(1)} ms; ` +
      `pytorch train ${p.at(-1)!.trainStepMs.toFixed(1)} ms, input-grad ${p.at(-1)!.inputGradStepMs.toFixed(1)} ms`,
  );
}
// Each run's figure is a median over steps; across rounds keep the best (least disturbed).
const best = (xs: Run[], k: keyof Run) => Math.min(...xs.map((x) => x[k]));
const rows = (['trainStepMs', 'inputGradStepMs'] as const).map((k) => ({ k, sauron: best(s, k), torch: best(p, k) }));
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const date = new Date().toISOString().slice(0, 10);
const section = [
  `## Engine: ${arch} ${input}, batch ${batch} (${date})`,
  '',
  `Machine: ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ${s[0]!.threads} threads in both engines.`,
  `Sauron on libtorch ${s[0]!.libtorch}; PyTorch ${p[0]!.torch} (Debian python3-torch). ${rounds} interleaved rounds of ${steps} timed steps;`,
  "each figure is the best round's median step time. Produced by `node --import tsx bench/engine/engine.ts`.",
  '',
  '| metric | Sauron (ms) | PyTorch (ms) | Sauron / PyTorch |',
  '|---|---:|---:|---:|',
  ...rows.map((r) =>
    tableRow([
      r.k === 'trainStepMs' ? 'train step (forward + backward + SGD)' : 'input-gradient step (eval mode)',
      r.sauron.toFixed(1),
      r.torch.toFixed(1),
      (r.sauron / r.torch).toFixed(3),
    ]),
  ),
  '',
  `All rounds (ms): Sauron train ${s.map((x) => x.trainStepMs.toFixed(1)).join(', ')}; PyTorch train ${p.map((x) => x.trainStepMs.toFixed(1)).join(', ')};`,
  `Sauron input-grad ${s.map((x) => x.inputGradStepMs.toFixed(1)).join(', ')}; PyTorch input-grad ${p.map((x) => x.inputGradStepMs.toFixed(1)).join(', ')}.`,
  '',
].join('\n');

updateBenchmarks(`## Engine: ${arch} ${input}, batch ${batch}`, section);
console.log(section);
