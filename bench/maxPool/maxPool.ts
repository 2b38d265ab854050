// Max pooling with tiling windows: the addon's forward (native/pool.cc) against libtorch's
// kernel, alone and inside the attack's input-gradient step of the default model's shape, with
// PyTorch (bench/maxPool/pytorch_max_pool.py) in the same run. "libtorch" runs the same Sauron code with
// the addon's pooling swapped for libtorch's max_pool2d, rounds interleaved.
//   node --import tsx bench/maxPool/maxPool.ts
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { native } from '../../src/native.js';
import { op } from '../../src/tensor/op.js';
import { Generator, scope } from '../../src/index.js';
import { randn, getNumThreads, grad, ones } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { pythonTwin, updateBenchmarks } from '../shared/report.js';
import { inputGradStep } from '../shared/inputGradStep.js';
import { BENCH } from '../shared/sauron.js';
import { interleavedBest } from '../shared/interleaved.js';

const batch = 256;
const rounds = 5;
const steps = 10;
const shapes = [
  [batch, 16, 28, 28],
  [batch, 32, 14, 14],
];

const tiled = native.maxPool2dTiled;
const viaLibtorch: typeof tiled = (x, kh, kw) =>
  op('max_pool2d').call(x, [kh, kw], [kh, kw], [0, 0], [1, 1], false) as ReturnType<typeof tiled>;
const use = (ours: boolean) => {
  native.maxPool2dTiled = ours ? tiled : viaLibtorch;
};

/** Best ms per call of fn, ours and libtorch's rounds interleaved. */
const ab = (fn: () => void): [number, number] => interleavedBest(fn, (k) => use(k === 0), rounds, steps);

const g = new Generator(0);
const pools = shapes.map((s) => {
  const x = randn(s, { generator: g }).relu().keep();
  const r = ab(() =>
    scope(() => {
      const xi = x.detach().requiresGrad_();
      const y = F.maxPool2d(xi, 2);
      grad(y, xi, { gradOutputs: [ones(y.shape)] });
    }),
  );
  x.dispose();
  return r;
});
const step = ab(inputGradStep(batch, g));
const py = pythonTwin(join(BENCH, 'maxPool', 'pytorch_max_pool.py'), [
  '--batch',
  String(batch),
  '--rounds',
  String(rounds),
  '--steps',
  String(steps),
  ...shapes.map((s) => s.join('x')),
]);

const row = (what: string, [ours, lib]: [number, number], torch: number) =>
  `| ${what} | ${ours.toFixed(2)} | ${lib.toFixed(2)} | ${torch.toFixed(2)} | ${(lib / ours).toFixed(2)}x | ${(torch / ours).toFixed(2)}x |`;
const rows = [
  ...shapes.map((s, i) => row(`max pooling 2x2, forward and backward, ${s.join('x')}`, pools[i]!, py.pools[i])),
  row(`input-gradient step, small-cnn width 0.5 (the default model's shape), batch ${batch}`, step, py.step),
];
const section = `## Attack step: max pooling (${new Date().toISOString().slice(0, 10)})

Milliseconds, best of ${rounds} rounds of ${steps} calls, ${getNumThreads()} threads, ${cpus().length} cores, load average
${loadavg()[0]!.toFixed(1)} at the end; PyTorch ${py.torch} in the same run. "Sauron": pooling windows that tile the input
go to the addon's forward (\`native/pool.cc\`; libtorch's values and indices, libtorch's backward); "Sauron, libtorch's
pooling": the same code with libtorch's max_pool2d, rounds interleaved. The step is forward, cross-entropy and backward to
the input, eval mode, random weights and inputs; BLIS on ${getNumThreads()} threads on both sides. Produced by \`node --import tsx bench/maxPool/maxPool.ts\`.

| what | Sauron | Sauron, libtorch's pooling | PyTorch | speed-up over libtorch's pooling | over PyTorch |
|---|---:|---:|---:|---:|---:|
${rows.join('\n')}
`;
updateBenchmarks('## Attack step: max pooling', section);
console.log(section);
