// Channels-last memory layout for the attacks' step (forward, cross-entropy, backward to the
// input), against NCHW, in Sauron and in PyTorch (bench/channelsLast/pytorch_channels_last.py), same model
// shapes, batches and machine, same run. Issue 15 asks whether to adopt it.
//   node --import tsx bench/channelsLast/channelsLast.ts
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createModel, Generator, scope } from '../../src/index.js';
import { rand, randint, getNumThreads, grad, type MemoryFormat } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { torchEnv, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';

const CASES = [
  { arch: 'small-cnn', input: [1, 28, 28] as [number, number, number], width: 0.5, batch: 256 },
  { arch: 'vgg19', input: [3, 32, 32] as [number, number, number], width: 1, batch: 32 },
  { arch: 'resnet18', input: [3, 32, 32] as [number, number, number], width: 1, batch: 32 },
];
const steps = 10;
const rounds = 3;

function sauron(c: (typeof CASES)[number], format: MemoryFormat): number {
  const g = new Generator(0);
  const model = createModel({ arch: c.arch, inputShape: c.input, numClasses: 10, width: c.width }, { generator: g }).eval();
  if (format === 'channels_last') model.toMemoryFormat(format);
  const x = rand([c.batch, ...c.input], { generator: g })
    .contiguous(format)
    .keep();
  const y = randint(0, 10, [c.batch], { generator: g }).keep();
  const step = () =>
    scope(() => {
      const xi = x.detach().requiresGrad_();
      grad(F.crossEntropy(model.forward(xi).logits, y), xi);
    });
  step();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) step();
    best = Math.min(best, (performance.now() - t0) / steps);
  }
  model.dispose();
  x.dispose();
  y.dispose();
  return best;
}

const rows: string[] = [];
let torchVersion = '';
for (const c of CASES) {
  const nchw = sauron(c, 'contiguous');
  const nhwc = sauron(c, 'channels_last');
  const py = JSON.parse(
    execFileSync(
      '/usr/bin/python3',
      [
        join(BENCH, 'channelsLast', 'pytorch_channels_last.py'),
        '--arch',
        c.arch,
        '--input',
        c.input.join('x'),
        '--width',
        String(c.width),
        '--batch',
        String(c.batch),
        '--steps',
        String(steps),
        '--rounds',
        String(rounds),
        '--threads',
        String(getNumThreads()),
      ],
      { env: torchEnv(), encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .pop()!,
  );
  torchVersion = py.torch;
  rows.push(
    `| ${c.arch} ${c.input.join('x')}, batch ${c.batch} | ${nchw.toFixed(1)} | ${nhwc.toFixed(1)} | ${(nchw / nhwc).toFixed(2)}x | ` +
      `${py.contiguous.toFixed(1)} | ${py.channels_last.toFixed(1)} | ${(py.contiguous / py.channels_last).toFixed(2)}x |`,
  );
  console.log(rows[rows.length - 1]);
}

const section = `## Attack step: channels-last against NCHW (${new Date().toISOString().slice(0, 10)})

Milliseconds per input-gradient step (forward, cross-entropy, backward to the input; an attack iteration without
the projection), eval mode, random weights and inputs, best of ${rounds} rounds of ${steps} steps, ${getNumThreads()} threads,
${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} at the end; PyTorch ${torchVersion} in the same run. Speed-up > 1
means channels-last is faster. Produced by \`node --import tsx bench/channelsLast/channelsLast.ts\`.

| model | Sauron NCHW | Sauron channels-last | speed-up | PyTorch NCHW | PyTorch channels-last | speed-up |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}
`;
updateBenchmarks('## Attack step: channels-last against NCHW', section);
console.log(section);
