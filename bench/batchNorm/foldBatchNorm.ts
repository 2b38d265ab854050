// Batch norm folded into the convolutions for the attacks' step (forward, cross-entropy,
// backward to the input), against batch norm as its own layer, in Sauron and in PyTorch
// (bench/batchNorm/pytorch_fold_batch_norm.py: fuse_conv_bn_eval), same model shapes, batches and machine,
// same run; with the largest logit difference the folding makes. Issue 15's cheaper arithmetic.
//   node --import tsx bench/batchNorm/foldBatchNorm.ts
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createModel, Generator, scope, noGrad } from '../../src/index.js';
import { rand, randint, getNumThreads } from '../../src/tensor/index.js';
import { withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';
import { timeFolding } from './foldTiming.js';
import { torchEnv, updateBenchmarks } from '../shared/report.js';
import { BENCH } from '../shared/sauron.js';

const CASES = [
  { arch: 'small-cnn', input: [1, 28, 28] as [number, number, number], width: 0.5, batch: 128 },
  { arch: 'vgg19', input: [3, 32, 32] as [number, number, number], width: 1, batch: 32 },
  { arch: 'resnet18', input: [3, 32, 32] as [number, number, number], width: 1, batch: 32 },
];
const steps = 10;
const rounds = 3;

function sauron(c: (typeof CASES)[number]): { batchNorm: number; folded: number; diff: number } {
  const g = new Generator(0);
  const model = createModel({ arch: c.arch, inputShape: c.input, numClasses: 10, width: c.width }, { generator: g }).eval();
  // trained-like statistics, so the folding has something to fold
  noGrad(() => {
    for (const [name, t] of model.namedBuffers()) {
      if (name.endsWith('running_mean')) t.copy_(rand(t.shape, { generator: g }).sub(0.5));
      if (name.endsWith('running_var')) t.copy_(rand(t.shape, { generator: g }).add(0.5));
    }
  });
  const x = rand([c.batch, ...c.input], { generator: g }).keep();
  const y = randint(0, 10, [c.batch], { generator: g }).keep();
  const diff = scope(() => {
    const plain = noGrad(() => model.forward(x).logits);
    const folded = withFoldedBatchNorm(model, () => noGrad(() => model.forward(x).logits));
    return plain.sub(folded).abs().max().item();
  });
  const t = timeFolding(model, x, y, steps, rounds);
  model.dispose();
  x.dispose();
  y.dispose();
  return { ...t, diff };
}

const rows: string[] = [];
let torchVersion = '';
for (const c of CASES) {
  const s = sauron(c);
  const py = JSON.parse(
    execFileSync(
      '/usr/bin/python3',
      [
        join(BENCH, 'batchNorm', 'pytorch_fold_batch_norm.py'),
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
    `| ${c.arch} ${c.input.join('x')}, batch ${c.batch} | ${s.batchNorm.toFixed(1)} | ${s.folded.toFixed(1)} | ${(s.batchNorm / s.folded).toFixed(2)}x | ` +
      `${s.diff.toExponential(1)} | ${py.batch_norm.toFixed(1)} | ${py.folded.toFixed(1)} | ${(py.batch_norm / py.folded).toFixed(2)}x |`,
  );
  console.log(rows[rows.length - 1]);
}

const section = `## Attack step: batch norm folded into the convolutions (${new Date().toISOString().slice(0, 10)})

Milliseconds per input-gradient step (forward, cross-entropy, backward to the input; an attack iteration without
the projection), eval mode, random weights, batch-norm statistics and inputs, best of ${rounds} interleaved rounds of ${steps} steps,
${getNumThreads()} threads, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} at the end; PyTorch ${torchVersion} in the same run
(folded by \`torch.nn.utils.fusion.fuse_conv_bn_eval\` on the same pairs). Logit difference: the largest |folded - unfolded| logit over the batch.
Produced by \`node --import tsx bench/batchNorm/foldBatchNorm.ts\`.

| model | Sauron batch norm | Sauron folded | speed-up | logit difference | PyTorch batch norm | PyTorch folded | speed-up |
|---|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}
`;
updateBenchmarks('## Attack step: batch norm folded into the convolutions', section);
console.log(section);
