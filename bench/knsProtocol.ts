// The n-neuron attack (n = 16, 50 iterations, as the reference) with its frozen rows dropped
// (the default) against stepping every row to the end: time and per-rank success on the first
// test inputs of a trained Fashion-MNIST model, with the true ReLU (inactive targets cannot
// move) and the fake one (every row moves), and on a CIFAR-shaped VGG-19 (synthetic weights;
// true ReLU, as `--fake-relu auto` picks for VGG). Same machine, same run, interleaved.
//   node --import tsx bench/knsProtocol.ts [--model runs/fm-standard] [--limit 200] [--vgg 8]
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createModel, Generator, getNumThreads, loadModel, rand, randint, scope } from '../src/index.js';
import { knsAttack, type KnsConfig } from '../src/attacks/kns.js';
import { featureStats } from '../src/analysis/featureStats.js';
import { loadFashionMnist } from '../src/data/fashionMnist.js';
import { subset } from '../src/data/registry.js';
import type { ImageClassifier } from '../src/models/classifier.js';
import type { Batch } from '../src/data/dataset.js';
import { BUDGETS } from '../src/reproduce/settings.js';
import { updateBenchmarks } from './report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: a } = parseArgs({ options: { model: { type: 'string', default: join(root, 'runs', 'fm-standard') },
  limit: { type: 'string', default: '200' }, vgg: { type: 'string', default: '8' }, batch: { type: 'string', default: '50' } } });
if (!existsSync(join(a.model!, 'model.json'))) throw new Error(`${a.model} is not a trained run: train it with \`sauron train --out ${a.model}\``);

interface Timed { seconds: number; perRank: number[]; dropped: number }

function run(model: ImageClassifier, batches: Batch[], cfg: KnsConfig): Timed {
  const hits = new Array<number>(cfg.rankCount).fill(0);
  let rows = 0;
  let frozen = 0;
  const t0 = performance.now();
  for (const b of batches) {
    scope(() => {
      const out = knsAttack(model, b, cfg);
      for (const r of out.records) {
        if (r.success) hits[r.rank - 1]!++;
        rows++;
      }
      frozen += out.frozenRows ?? 0;
    });
  }
  return { seconds: (performance.now() - t0) / 1000, perRank: hits.map((h) => h / (rows / cfg.rankCount)), dropped: frozen / rows };
}

function compare(name: string, model: ImageClassifier, batches: Batch[], cfg: KnsConfig, rounds = 2): string {
  const early: Timed[] = [];
  const full: Timed[] = [];
  for (let r = 0; r < rounds; r++) {
    early.push(run(model, batches, cfg));
    full.push(run(model, batches, { ...cfg, earlyStop: false }));
  }
  const e = Math.min(...early.map((x) => x.seconds));
  const f = Math.min(...full.map((x) => x.seconds));
  const same = JSON.stringify(early[0]!.perRank) === JSON.stringify(full[0]!.perRank);
  const rank1 = (100 * early[0]!.perRank[0]!).toFixed(1);
  const e16 = (100 * early[0]!.perRank[15]!).toFixed(1);
  return `| ${name} | ${(100 * early[0]!.dropped).toFixed(0)}% | ${f.toFixed(1)} | ${e.toFixed(1)} | ${(f / e).toFixed(2)}x | ${same ? 'identical' : 'DIFFERENT'} (rank 1: ${rank1}%, rank 16: ${e16}%) |`;
}

const base = { norm: 'l2' as const, eps: BUDGETS['fashion-mnist']!.l2, iterations: 50, seed: 0, rankCount: 16 };
const { model } = loadModel(a.model!);
const test = loadFashionMnist('test');
const stats = await featureStats(model, [subset(test, { limit: 2000 })]);
const limit = Number(a.limit);
const bs = Number(a.batch);
const batches = Array.from({ length: Math.ceil(limit / bs) }, (_, k) => test.loadSync(Array.from({ length: Math.min(bs, limit - k * bs) }, (_, i) => k * bs + i)));
const fm = { ...base, featureMean: stats.mean, featureStd: stats.std };
const rows = [compare(`Fashion-MNIST default model, true ReLU, ${limit} inputs`, model, batches, { ...fm, fakeRelu: false }),
  compare(`Fashion-MNIST default model, fake ReLU (auto), ${limit} inputs`, model, batches, { ...fm, fakeRelu: true })];

const vgg = createModel({ arch: 'vgg19', inputShape: [3, 32, 32], numClasses: 10 }, { generator: new Generator(1) });
const g = new Generator(2);
const vb = [{ images: rand([Number(a.vgg), 3, 32, 32], { generator: g }), labels: randint(0, 10, [Number(a.vgg)], { generator: g }),
  indices: Array.from({ length: Number(a.vgg) }, (_, i) => i) }];
const f = vgg.featureDim;
rows.push(compare(`VGG-19 3x32x32, synthetic weights, true ReLU, ${a.vgg} inputs`, vgg, vb,
  { ...base, eps: 0.5, fakeRelu: false, featureMean: new Float32Array(f).fill(0), featureStd: new Float32Array(f).fill(1) }, 1));

const section = [
  `## Attack: the n-neuron attack with frozen rows dropped (${new Date().toISOString().slice(0, 10)})`,
  '',
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ${getNumThreads()} threads. k-NS with n = 16 ranks, 50 iterations,`,
  `L2 (eps ${base.eps}; VGG-19 0.5), lambda 10. "Dropped": rows whose loss has no gradient at the clean input (chiefly inactive`,
  'targets behind a true ReLU), which never move and stop after the first gradient; "full": every row stepped to the end.',
  'Best of 2 interleaved rounds (VGG-19: 1). Produced by `node --import tsx bench/knsProtocol.ts`.',
  '',
  '| model | rows dropped | full (s) | dropped (s) | speed-up | per-rank success |',
  '|---|---:|---:|---:|---:|---|',
  ...rows,
  '',
  'The fake ReLU (on by default for the small CNN and ResNets) passes the gradient through inactive neurons, so its rows',
  'move. The other early exit, a row that has fooled the model, cannot keep the full protocol\'s answers: its kept iterate',
  'is the highest-loss one over all 50 iterations, and its Delta-achieve is measured there.',
  '',
].join('\n');
updateBenchmarks('## Attack: the n-neuron attack with frozen rows dropped', section);
console.log(section);
