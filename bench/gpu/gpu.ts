// GPU benchmark: Sauron against PyTorch eager on the same GPU in the same run, fp32 and bf16.
// VGG-19 on CIFAR-shaped inputs (batch 256): a training step and an input-gradient step; PGD
// throughput (L2, best iterate kept, records read back to the host) for VGG-19 and the
// Fashion-MNIST small CNN. Run by scripts/gpu-check.sh; prints a Markdown section and writes
// it with the raw figures as JSON to --out.
//   node bench/gpu/gpu.js [--python python3] [--out DIR] [--rounds 3]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchEngine } from '../../src/experiments/engineBenchmark.js';
import { createModel } from '../../src/models/zoo.js';
import { pgdAttack } from '../../src/attacks/pgd.js';
import { rand, randint } from '../../src/tensor/creation.js';
import { Generator } from '../../src/tensor/random.js';
import { scope } from '../../src/tensor/scope.js';
import { libtorchVersion } from '../../src/tensor/runtime.js';
import { resolveDevice, synchronize, type Precision } from '../../src/tensor/device.js';
import { BENCH } from '../shared/sauron.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const python = opt('python', 'python3');
const out = opt('out', '.');
// --quick: tiny sizes, for a dry run of the check's mechanics on a CPU.
const quick = args.includes('--quick');
const rounds = quick ? 1 : Number(opt('rounds', '3'));
const device = resolveDevice(opt('device', 'cuda'));
const precisions: Precision[] = ['fp32', 'bf16'];

/** A PyTorch twin, `script` relative to bench/ (TOPIC/pytorch_NAME.py). */
function py(script: string, a: string[]): any {
  return JSON.parse(execFileSync(python, [join(BENCH, script), ...a, '--device', device], { encoding: 'utf8' }));
}

const min = (xs: number[]) => Math.min(...xs);

// ---- engine ---------------------------------------------------------------------------
const ENGINE = {
  arch: 'vgg19',
  input: [3, 32, 32] as [number, number, number],
  batch: quick ? 4 : 256,
  steps: quick ? 2 : 20,
  warmup: quick ? 1 : 5,
};
interface Times {
  train: number[];
  igrad: number[];
  trainIssue: number[];
  igradIssue: number[];
}
const engine: Record<string, { sauron: Times; torch: Times }> = {};
let torchVersion = '';
for (const p of precisions) {
  const times = (): Times => ({ train: [], igrad: [], trainIssue: [], igradIssue: [] });
  const e = { sauron: times(), torch: times() };
  for (let r = 0; r < rounds; r++) {
    const s = () => {
      const x = benchEngine({
        arch: ENGINE.arch,
        inputShape: ENGINE.input,
        classes: 10,
        batch: ENGINE.batch,
        steps: ENGINE.steps,
        warmup: ENGINE.warmup,
        device,
        precision: p,
      });
      e.sauron.train.push(x.trainStepMs);
      e.sauron.igrad.push(x.inputGradStepMs);
      e.sauron.trainIssue.push(x.trainIssueMs);
      e.sauron.igradIssue.push(x.inputGradIssueMs);
    };
    const t = () => {
      const x = py('engine/pytorch_engine.py', [
        '--arch',
        ENGINE.arch,
        '--input',
        ENGINE.input.join('x'),
        '--batch',
        String(ENGINE.batch),
        '--steps',
        String(ENGINE.steps),
        '--warmup',
        String(ENGINE.warmup),
        '--precision',
        p,
      ]);
      torchVersion = x.torch;
      e.torch.train.push(x.trainStepMs);
      e.torch.igrad.push(x.inputGradStepMs);
      e.torch.trainIssue.push(x.trainIssueMs);
      e.torch.igradIssue.push(x.inputGradIssueMs);
    };
    if (r % 2 === 0) {
      s();
      t();
    } else {
      t();
      s();
    }
    console.error(
      `engine ${p} round ${r + 1}: sauron ${e.sauron.train.at(-1)!.toFixed(2)} / ${e.sauron.igrad.at(-1)!.toFixed(2)} ms, ` +
        `pytorch ${e.torch.train.at(-1)!.toFixed(2)} / ${e.torch.igrad.at(-1)!.toFixed(2)} ms`,
    );
  }
  engine[p] = e;
}

// ---- PGD ------------------------------------------------------------------------------
const PGD = [
  { arch: 'vgg19', input: [3, 32, 32] as [number, number, number], width: 1, batch: quick ? 4 : 256, iterations: quick ? 2 : 20 },
  { arch: 'small-cnn', input: [1, 28, 28] as [number, number, number], width: 1, batch: quick ? 16 : 1024, iterations: quick ? 2 : 20 },
];

function sauronPgd(c: (typeof PGD)[number], precision: Precision): number {
  const g = new Generator(0);
  const model = createModel({ arch: c.arch, inputShape: c.input, numClasses: 10, width: c.width }, { generator: g, device });
  const images = rand([c.batch, ...c.input], { generator: g })
    .to(device)
    .keep();
  const labels = randint(0, 10, [c.batch], { generator: g }).to(device).keep();
  const b = { images, labels, indices: Array.from({ length: c.batch }, (_, i) => i) };
  const cfg = { norm: 'l2' as const, eps: 0.5, restarts: 1, randomStart: false, seed: 0, precision, earlyStop: false };
  scope(() => pgdAttack(model, b, { ...cfg, iterations: 2 })); // warm-up
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    synchronize(device);
    const t0 = performance.now();
    scope(() => pgdAttack(model, b, { ...cfg, iterations: c.iterations }));
    synchronize(device);
    times.push((performance.now() - t0) / 1000);
  }
  model.dispose();
  images.dispose();
  labels.dispose();
  return (c.batch * c.iterations) / min(times);
}

const pgd: { case: string; precision: Precision; sauron: number; torch: number }[] = [];
for (const c of PGD) {
  for (const p of precisions) {
    const s = sauronPgd(c, p);
    const t = py('attacks/pytorch_attack.py', [
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
      '--precision',
      p,
    ]).stepsPerSecond as number;
    pgd.push({ case: `${c.arch} ${c.input.join('x')}, batch ${c.batch}, ${c.iterations} iterations`, precision: p, sauron: s, torch: t });
    console.error(`pgd ${c.arch} ${p}: sauron ${s.toFixed(0)} steps/s, pytorch ${t.toFixed(0)} steps/s`);
  }
}

// ---- report ---------------------------------------------------------------------------
const gpuName = (() => {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return 'unknown GPU';
  }
})();
const f = (x: number) => x.toFixed(2);
const lines = [
  `## GPU: ${gpuName} (${new Date().toISOString().slice(0, 10)})`,
  '',
  `Sauron on libtorch ${libtorchVersion} (the CUDA libtorch inside PyTorch ${torchVersion}), PyTorch ${torchVersion} eager, same GPU, same run`,
  `(scripts/gpu-check.sh). Each figure is the best of ${rounds} interleaved rounds; a step time is the median of ${ENGINE.steps} timed steps after`,
  `${ENGINE.warmup} warm-up steps, with a device synchronisation after every step in both engines. TF32 at PyTorch's defaults.`,
  '',
  `### VGG-19, CIFAR shape (3x32x32), batch ${ENGINE.batch}`,
  '',
  '| step | precision | Sauron (ms) | PyTorch (ms) | Sauron / PyTorch |',
  '|---|---|---:|---:|---:|',
];
for (const p of precisions) {
  const e = engine[p]!;
  const ratio = (k: 'train' | 'igrad') => (min(e.sauron[k]) / min(e.torch[k])).toFixed(3);
  lines.push(`| train (forward + backward + SGD) | ${p} | ${f(min(e.sauron.train))} | ${f(min(e.torch.train))} | ${ratio('train')} |`);
  lines.push(`| input gradient (eval mode) | ${p} | ${f(min(e.sauron.igrad))} | ${f(min(e.torch.igrad))} | ${ratio('igrad')} |`);
}
const sp = (k: 'train' | 'igrad', who: 'sauron' | 'torch') => min(engine.fp32![who][k]) / min(engine.bf16![who][k]);
lines.push(
  '',
  `Host time to issue a step (median of the best round, ms; close to the step time means the host, not the GPU, sets the pace): ` +
    precisions
      .map(
        (p) =>
          `${p}: Sauron train ${f(min(engine[p]!.sauron.trainIssue))}, input gradient ${f(min(engine[p]!.sauron.igradIssue))}; ` +
          `PyTorch train ${f(min(engine[p]!.torch.trainIssue))}, input gradient ${f(min(engine[p]!.torch.igradIssue))}`,
      )
      .join('; ') +
    '.',
);
lines.push(
  '',
  `bf16 speed-up over fp32: Sauron train ${sp('train', 'sauron').toFixed(2)}x, input gradient ${sp('igrad', 'sauron').toFixed(2)}x; ` +
    `PyTorch train ${sp('train', 'torch').toFixed(2)}x, input gradient ${sp('igrad', 'torch').toFixed(2)}x.`,
  '',
);
lines.push(
  '### PGD throughput (L2, eps 0.5, no random start, best iterate kept)',
  '',
  '| model and attack | precision | Sauron steps/s | PyTorch steps/s | Sauron time / PyTorch time |',
  '|---|---|---:|---:|---:|',
);
for (const r of pgd)
  lines.push(`| ${r.case} | ${r.precision} | ${r.sauron.toFixed(0)} | ${r.torch.toFixed(0)} | ${(r.torch / r.sauron).toFixed(3)} |`);
lines.push(
  '',
  'Input-gradient steps per second = batch x iterations / seconds, clean predictions, final predictions and norms read back to the host.',
  '',
);
const section = lines.join('\n');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'gpu-bench.md'), section);
writeFileSync(
  join(out, 'gpu-bench.json'),
  JSON.stringify({ gpu: gpuName, libtorch: libtorchVersion, torch: torchVersion, engine, pgd }, null, 1),
);
console.log(section);
