// A model's front convolutions in one native call (native/convStack.cc: oneDNN's blocked layout
// kept from layer to layer, ReLU as the convolution's post-op) against the same layers one by one
// (libtorch's conv2d, which reorders to NCHW and back around every call), for the forward and the
// attack's input-gradient step, batch norm folded and weights frozen as the attacks run them;
// PyTorch (bench/conv/pytorch_conv_stack.py) in the same run. Rounds interleaved.
//   node --import tsx bench/conv/convStack.ts
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createModel, Generator, scope } from '../../src/index.js';
import { enableGrad, getNumThreads, grad, noGrad, rand, randint } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { setConvStackEnabled } from '../../src/nn/convStack.js';
import { withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';
import { pythonTwin, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';
import { interleavedBest } from '../shared/interleaved.js';

const rounds = 5;
const steps = 10;
/** The default model's shape, and a CIFAR-10 VGG. */
const cases: { arch: string; width: number; shape: [number, number, number]; batch: number; what: string }[] = [
  { arch: 'small-cnn', width: 0.5, shape: [1, 28, 28], batch: 256, what: "small-cnn width 0.5 (the default model's shape)" },
  { arch: 'vgg11', width: 1, shape: [3, 32, 32], batch: 64, what: 'VGG-11 with batch norm, CIFAR-10 shape' },
];

const g = new Generator(0);
const results = cases.map((c) => {
  const model = createModel({ arch: c.arch, inputShape: c.shape, numClasses: 10, width: c.width }, { generator: g }).eval();
  for (const p of model.parameters()) p.requiresGrad_(false);
  const x0 = rand([c.batch, ...c.shape], { generator: g }).keep();
  const goal = randint(0, 10, [c.batch], { generator: g }).keep();
  const forward = () => scope(() => noGrad(() => model.forward(x0).logits.sum().toNumbers()));
  const step = () =>
    scope(() => {
      const xi = x0.detach().requiresGrad_();
      grad(
        enableGrad(() => F.crossEntropy(model.forward(xi).logits, goal)),
        xi,
      );
    });
  const ab = (fn: () => void) => interleavedBest(fn, (k) => setConvStackEnabled(k === 0), rounds, steps);
  const r = withFoldedBatchNorm(model, () => ({ forward: ab(forward), step: ab(step) }));
  x0.dispose();
  goal.dispose();
  return r;
});
const py = pythonTwin(join(BENCH, 'conv', 'pytorch_conv_stack.py'), [
  '--rounds',
  String(rounds),
  '--steps',
  String(steps),
  ...cases.map((c) => `${c.arch}:${c.width}:${c.batch}:${c.shape.join('x')}`),
]);

const row = (what: string, [mine, layers]: [number, number], torch: number) =>
  `| ${what} | ${mine.toFixed(2)} | ${layers.toFixed(2)} | ${torch.toFixed(2)} | ${(layers / mine).toFixed(2)}x | ${(torch / mine).toFixed(2)}x |`;
const rows = cases.flatMap((c, i) => [
  row(`forward, ${c.what}, batch ${c.batch}`, results[i]!.forward, py.cases[i].forward),
  row(`input-gradient step, ${c.what}, batch ${c.batch}`, results[i]!.step, py.cases[i].step),
]);
const section = `## Attack step: a convolution stack in oneDNN's layout (${new Date().toISOString().slice(0, 10)})

Milliseconds, best of ${rounds} rounds of ${steps} calls, ${getNumThreads()} threads, ${cpus().length} cores, load average
${loadavg()[0]!.toFixed(1)} at the end; PyTorch ${py.torch} in the same run. "Sauron": the front convolutions, ReLUs and max
poolings of the model's feature Sequential in one call of the addon (\`native/convStack.cc\`: oneDNN's convolutions on its
channel-blocked layout from the first layer to the last, ReLU as the convolution's post-op); "layer by layer": the same code
with the stack turned off, each convolution libtorch's conv2d (which reorders its input into that layout and its output back
to NCHW), rounds interleaved. Eval mode, batch norm folded and weights frozen as the attacks run them; PyTorch's model in
eval mode with frozen weights, batch norm as a layer. The step is forward, cross-entropy and backward to the input; random
weights and inputs. The outputs and input gradients of the two Sauron paths are equal bit for bit
(test/unit/convStack.test.ts). Produced by \`node --import tsx bench/conv/convStack.ts\`.

| what | Sauron | Sauron, layer by layer | PyTorch | speed-up over layer by layer | over PyTorch |
|---|---:|---:|---:|---:|---:|
${rows.join('\n')}
`;
updateBenchmarks("## Attack step: a convolution stack in oneDNN's layout", section);
console.log(section);
