// Training cost of each method relative to standard training: seconds per epoch-equivalent of
// training steps on the Fashion-MNIST default model, methods interleaved in rounds.
//   node --import tsx bench/training/training.ts [--steps 60] [--rounds 3]
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { openDataset } from '../../src/data/registry.js';
import { batches } from '../../src/data/loader.js';
import { DEFAULTS, type TrainConfig } from '../../src/training/config.js';
import { modelFor } from '../../src/training/train.js';
import { sensitivityRegularizer } from '../../src/training/sensitivityRegularizer.js';
import { pgdAttack } from '../../src/attacks/pgd.js';
import { scope } from '../../src/index.js';
import { getNumThreads } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import { tableRow, updateBenchmarks } from '../shared/report.js';

const args = process.argv.slice(2);
const opt = (k: string, d: number) => (args.includes(`--${k}`) ? Number(args[args.indexOf(`--${k}`) + 1]) : d);
const steps = opt('steps', 60);
const rounds = opt('rounds', 3);
const d = DEFAULTS['fashion-mnist']!;
const base: TrainConfig = { ...d, method: 'standard', dataset: 'fashion-mnist' };
const train = await openDataset('fashion-mnist', 'train', { limit: steps * base.batchSize });
const methods = ['standard', 'sensitivity', 'pgd'] as const;

async function time(method: (typeof methods)[number]): Promise<number> {
  const model = modelFor(base, train);
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  model.train();
  let t = 0;
  for await (const b of batches(train, { batchSize: base.batchSize, shuffle: true, seed: 0, augment: base.augment })) {
    const t0 = performance.now();
    scope(() => {
      const x =
        method === 'pgd'
          ? pgdAttack(model, b, {
              norm: 'l2',
              eps: d.adversarial.eps,
              iterations: d.adversarial.steps,
              restarts: 1,
              randomStart: true,
              seed: 0,
              against: 'label',
              earlyStop: false,
            }).adversarial
          : b.images;
      model.train();
      opt.zeroGrad();
      const { logits, features } = model.forward(x);
      let loss = F.crossEntropy(logits, b.labels);
      if (method === 'sensitivity')
        loss = loss.add(sensitivityRegularizer(features, model.classifier.weight, b.labels, d.regularizer).total);
      loss.backward();
      opt.step();
      b.images.dispose();
      b.labels.dispose();
    });
    t += performance.now() - t0;
  }
  model.dispose();
  return t / 1000;
}

const results: Record<string, number[]> = { standard: [], sensitivity: [], pgd: [] };
for (let r = 0; r < rounds; r++) for (const m of methods) results[m]!.push(await time(m));
const best = (m: string) => Math.min(...results[m]!);
const perEpoch = (m: string) => best(m) * (60000 / (steps * base.batchSize));
const methodSettings: Record<string, string> = {
  sensitivity: ` (k ${d.regularizer.topK}, delta1 ${d.regularizer.delta1}, delta2 ${d.regularizer.delta2})`,
  pgd: ` (L2 eps ${d.adversarial.eps}, ${d.adversarial.steps} steps)`,
};
const section = [
  `## Training: time per epoch by method (${new Date().toISOString().slice(0, 10)})`,
  '',
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ${getNumThreads()} threads. ` +
    `Fashion-MNIST default model (${base.arch}, width ${base.width}),`,
  `batch ${base.batchSize}; ${steps} training steps per method, best of ${rounds} interleaved rounds, scaled to a 60,000-image epoch`,
  '(training steps only, no evaluation). Produced by `node --import tsx bench/training/training.ts`. Target: sensitivity at most 1.3x standard.',
  '',
  '| method | seconds per epoch | vs standard |',
  '|---|---:|---:|',
  ...methods.map((m) =>
    tableRow([`${m}${methodSettings[m] ?? ''}`, perEpoch(m).toFixed(1), `${(best(m) / best('standard')).toFixed(2)}x`]),
  ),
  '',
].join('\n');
updateBenchmarks('## Training: time per epoch by method', section);
console.log(section);
