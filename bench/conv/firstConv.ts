// The first convolution's input gradient: the addon's conv2d (native/conv.cc: oneDNN's forward,
// libtorch's im2col kernel for the input gradient of 1 to 3 input channels) against libtorch's
// conv2d (oneDNN both ways), alone and inside the attack's input-gradient step of the default
// model's shape, with PyTorch (bench/conv/pytorch_first_conv.py) in the same run. "libtorch" runs
// the same Sauron code with the addon's conv2d swapped for libtorch's op, rounds interleaved.
//   node --import tsx bench/conv/firstConv.ts
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { native } from '../../src/native.js';
import { op } from '../../src/tensor/op.js';
import { Generator, scope } from '../../src/index.js';
import { enableGrad, getNumThreads, grad, rand, randn } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { pythonTwin, updateBenchmarks } from '../shared/report.js';
import { inputGradStep } from '../shared/inputGradStep.js';
import { BENCH } from '../shared/sauron.js';
import { interleavedBest } from '../shared/interleaved.js';

const batch = 256;
const rounds = 5;
const steps = 10;
/** Input shape and output channels: the default model's first layer, a wider one, a CIFAR model's first layer. */
const convs: [number[], number][] = [
  [[batch, 1, 28, 28], 16],
  [[batch, 1, 28, 28], 32],
  [[64, 3, 32, 32], 64],
];

const ours = native.conv2d;
const viaLibtorch: typeof ours = (x, w, b, stride, padding, dilation, groups) =>
  op('conv2d').call(x, w, b, stride, padding, dilation, groups) as ReturnType<typeof ours>;
const use = (mine: boolean) => {
  native.conv2d = mine ? ours : viaLibtorch;
};

/** Best ms per call of fn, ours and libtorch's rounds interleaved. */
const ab = (fn: () => void): [number, number] => interleavedBest(fn, (k) => use(k === 0), rounds, steps);

const g = new Generator(0);
const times = convs.map(([shape, out]) => {
  const x = rand(shape, { generator: g }).keep();
  const w = randn([out, shape[1]!, 3, 3], { generator: g }).keep();
  const b = randn([out], { generator: g }).keep();
  const up = randn([shape[0]!, out, shape[2]!, shape[3]!], { generator: g }).keep();
  const r = ab(() =>
    scope(() => {
      const xi = x.detach().requiresGrad_();
      grad(
        enableGrad(() => F.conv2d(xi, w, b, { padding: 1 })),
        xi,
        { gradOutputs: [up] },
      );
    }),
  );
  for (const t of [x, w, b, up]) t.dispose();
  return r;
});
const step = ab(inputGradStep(batch, g));
const py = pythonTwin(join(BENCH, 'conv', 'pytorch_first_conv.py'), [
  '--batch',
  String(batch),
  '--rounds',
  String(rounds),
  '--steps',
  String(steps),
  ...convs.map(([s, o]) => `${s.join('x')}:${o}`),
]);

const row = (what: string, [mine, lib]: [number, number], torch: number) =>
  `| ${what} | ${mine.toFixed(2)} | ${lib.toFixed(2)} | ${torch.toFixed(2)} | ${(lib / mine).toFixed(2)}x | ${(torch / mine).toFixed(2)}x |`;
const rows = [
  ...convs.map(([s, o], i) => row(`3x3 convolution ${s.join('x')} -> ${o} channels, forward and input gradient`, times[i]!, py.convs[i])),
  row(`input-gradient step, small-cnn width 0.5 (the default model's shape), batch ${batch}`, step, py.step),
];
const section = `## Attack step: the first convolution's input gradient (${new Date().toISOString().slice(0, 10)})

Milliseconds, best of ${rounds} rounds of ${steps} calls, ${getNumThreads()} threads, ${cpus().length} cores, load average
${loadavg()[0]!.toFixed(1)} at the end; PyTorch ${py.torch} in the same run. "Sauron": the addon's conv2d (\`native/conv.cc\`;
libtorch's forward, and for 1 to 3 input channels on the CPU the input gradient of libtorch's im2col kernel
\`_slow_conv2d_backward\`); "Sauron, libtorch's conv2d": the same code with libtorch's conv2d op (oneDNN forward and
backward), rounds interleaved. The step is forward, cross-entropy and backward to the input, eval mode, random weights and
inputs. Produced by \`node --import tsx bench/conv/firstConv.ts\`.

| what | Sauron | Sauron, libtorch's conv2d | PyTorch | speed-up over libtorch's conv2d | over PyTorch |
|---|---:|---:|---:|---:|---:|
${rows.join('\n')}
`;
updateBenchmarks("## Attack step: the first convolution's input gradient", section);
console.log(section);
