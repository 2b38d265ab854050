// bf16 autocast on the CPU: attack throughput and success rates, fp32 against bf16 in one run.
//   node --import tsx bench/bf16.ts
// Part 1: the default Fashion-MNIST model (trained into runs/bench-std with the library's
// train() if that run does not exist), the first 1,000 test inputs, PGD L2 / Linf and the
// 1-neuron attack (k-NS). Part 2: VGG-19 on synthetic CIFAR-shaped inputs, PGD L2.
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createModel, rand, randint, Generator, scope, noGrad, getNumThreads, F } from '../src/index.js';
import { buildInfo, type Precision } from '../src/tensor/device.js';
import { pgdAttack, type AttackBatch, type PgdConfig } from '../src/attacks/pgd.js';
import { knsAttack, type KnsConfig } from '../src/attacks/kns.js';
import type { SampleRecord } from '../src/attacks/types.js';
import { batches } from '../src/data/loader.js';
import { openDataset, subset } from '../src/data/registry.js';
import type { ImageDataset } from '../src/data/dataset.js';
import type { ImageClassifier } from '../src/models/classifier.js';
import { featureStats } from '../src/analysis/featureStats.js';
import { loadModel, MANIFEST_FILE } from '../src/models/runFolder.js';
import { train } from '../src/training/train.js';
import { DEFAULTS, type TrainConfig } from '../src/training/config.js';
import { updateBenchmarks } from './report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUN = join(root, 'runs', 'bench-std');
const INPUTS = 1000;
const BATCH = 128;
const PRECISIONS: Precision[] = ['fp32', 'bf16'];
const wallStart = performance.now();
const log = (s: string) => console.error(s);

// ---------------------------------------------------------------- part 1: Fashion-MNIST model

/** What `sauron train --out runs/bench-std` runs: method standard, fashion-mnist defaults, seed 0. */
function standardConfig(): TrainConfig {
  const d = DEFAULTS['fashion-mnist']!;
  return {
    method: 'standard', dataset: 'fashion-mnist', arch: d.arch, width: d.width, epochs: d.epochs, batchSize: d.batchSize,
    lr: d.lr, momentum: d.momentum, weightDecay: d.weightDecay, schedule: d.schedule, stepEpochs: d.stepEpochs, gamma: d.gamma,
    seed: 0, imageSize: d.imageSize, augment: { ...d.augment }, validation: { ...d.validation },
  };
}

async function ensureModel(): Promise<string> {
  if (existsSync(join(RUN, MANIFEST_FILE))) return 'existing run';
  const resume = existsSync(RUN); // an interrupted earlier training continues
  log(`training ${RUN} (${resume ? 'resuming' : 'from scratch'}) ...`);
  const t0 = performance.now();
  const r = await train(standardConfig(), { out: RUN, resume, log });
  const s = (performance.now() - t0) / 1000;
  log(`trained in ${s.toFixed(0)} s, test accuracy ${r.final?.accuracy}`);
  return `trained in this run (${s.toFixed(0)} s)`;
}

type Spec = { name: string; kind: 'pgd'; cfg: PgdConfig } | { name: string; kind: 'kns'; cfg: KnsConfig };

interface CaseResult {
  seconds: number;
  /** Records returned (one per input for PGD, one per input and neuron for k-NS). */
  rows: number;
  /** Iterations per row (x restarts for PGD): rows x iterations = input-gradient steps. */
  iterations: number;
  /** index -> label, clean prediction, success (any record of the input) */
  byIndex: Map<number, { label: number; clean: number; success: boolean }>;
}

async function runCase(model: ImageClassifier, ds: ImageDataset, spec: Spec, precision: Precision): Promise<CaseResult> {
  const byIndex: CaseResult['byIndex'] = new Map();
  let seconds = 0;
  let rows = 0;
  for await (const b of batches(ds, { batchSize: BATCH, device: model.device })) {
    const batch: AttackBatch = { images: b.images, labels: b.labels, indices: b.indices };
    const t0 = performance.now();
    const records: SampleRecord[] = scope(() => {
      const out = spec.kind === 'pgd' ? pgdAttack(model, batch, { ...spec.cfg, precision })
        : knsAttack(model, batch, { ...spec.cfg, precision });
      return out.records;
    });
    seconds += (performance.now() - t0) / 1000;
    b.images.dispose();
    b.labels.dispose();
    rows += records.length;
    for (const r of records) {
      const prev = byIndex.get(r.index);
      byIndex.set(r.index, { label: r.label, clean: r.cleanPrediction, success: (prev?.success ?? false) || r.success });
    }
  }
  const iterations = spec.cfg.iterations * (spec.kind === 'pgd' ? spec.cfg.restarts : 1);
  return { seconds, rows, iterations, byIndex };
}

async function partOne(): Promise<{ rows: string[]; notes: string[] }> {
  const trained = await ensureModel();
  const { model, manifest } = loadModel(RUN);
  model.eval();
  const testSet = await openDataset('fashion-mnist', 'test');
  const ds = subset(testSet, { limit: INPUTS });
  log('feature statistics over the test split ...');
  const stats = await featureStats(model, [testSet]);
  const featureMean = Float32Array.from(stats.mean);
  const featureStd = Float32Array.from(stats.std);
  const pgdBase = { restarts: 1, randomStart: true, seed: 0, iterations: 20 };
  const knsBase = { norm: 'l2' as const, eps: 1.5, iterations: 50, seed: 0, rankCount: 1, lambda: 10, featureMean, featureStd };
  const specs: Spec[] = [
    { name: 'PGD L2 eps 1.5, 20 iterations, random start', kind: 'pgd', cfg: { ...pgdBase, norm: 'l2', eps: 1.5 } },
    { name: 'PGD Linf eps 0.1, 20 iterations, random start', kind: 'pgd', cfg: { ...pgdBase, norm: 'linf', eps: 0.1 } },
    // budgets where the standard model is not saturated, so a change in success can show
    { name: 'PGD L2 eps 0.5, 20 iterations, random start', kind: 'pgd', cfg: { ...pgdBase, norm: 'l2', eps: 0.5 } },
    { name: 'PGD Linf eps 0.03, 20 iterations, random start', kind: 'pgd', cfg: { ...pgdBase, norm: 'linf', eps: 0.03 } },
    { name: '1-neuron k-NS, L2 eps 1.5, 50 iterations, lambda 10, fakeRelu on', kind: 'kns', cfg: { ...knsBase, fakeRelu: true } },
    { name: '1-neuron k-NS, same, fakeRelu off', kind: 'kns', cfg: { ...knsBase, fakeRelu: false } },
  ];
  // warm-up: one small batch per attack kind and precision (kernel selection, allocator)
  const warm = subset(testSet, { limit: 16 });
  for (const p of PRECISIONS) {
    await runCase(model, warm, { ...specs[0]!, cfg: { ...(specs[0]!.cfg as PgdConfig), iterations: 2 } } as Spec, p);
    await runCase(model, warm, { ...specs[2]!, cfg: { ...(specs[2]!.cfg as KnsConfig), iterations: 2 } } as Spec, p);
  }
  const rows: string[] = [];
  let correctCount = 0;
  for (const spec of specs) {
    const res: Partial<Record<Precision, CaseResult>> = {};
    for (const p of PRECISIONS) {
      res[p] = await runCase(model, ds, spec, p);
      log(`${spec.name} ${p}: ${res[p]!.seconds.toFixed(1)} s`);
    }
    const ref = res.fp32!;
    const correct = [...ref.byIndex.entries()].filter(([, r]) => r.clean === r.label).map(([i]) => i);
    correctCount = correct.length;
    const rate = (c: CaseResult) => correct.filter((i) => c.byIndex.get(i)!.success).length / correct.length;
    for (const p of PRECISIONS) {
      const c = res[p]!;
      // the clean predictions are made in float32 in both precisions: the same inputs count
      for (const i of correct) if (c.byIndex.get(i)!.clean !== ref.byIndex.get(i)!.clean) throw new Error('clean predictions differ');
      const steps = (c.rows * c.iterations) / c.seconds;
      let extra = '— | —';
      if (p !== 'fp32') {
        const fOnly = correct.filter((i) => ref.byIndex.get(i)!.success && !c.byIndex.get(i)!.success).length;
        const bOnly = correct.filter((i) => !ref.byIndex.get(i)!.success && c.byIndex.get(i)!.success).length;
        const dpp = (rate(c) - rate(ref)) * 100;
        extra = `${dpp >= 0 ? '+' : ''}${dpp.toFixed(1)} | ${(((fOnly + bOnly) / correct.length) * 100).toFixed(1)}% (${fOnly} fp32 only, ${bOnly} bf16 only)`;
      }
      rows.push(`| ${spec.name} | ${p} | ${c.seconds.toFixed(1)} | ${steps.toFixed(0)} | ${(ref.seconds / c.seconds).toFixed(2)}x | ${(rate(c) * 100).toFixed(1)}% | ${extra} |`);
      log(rows.at(-1)!);
    }
  }
  model.dispose();
  const notes = [
    `Model: ${manifest.arch} (width ${manifest.width}) in runs/bench-std, ${trained}; ${correctCount} of the first ${INPUTS} test inputs correctly classified.`,
  ];
  return { rows, notes };
}

// ---------------------------------------------------------------- part 2: VGG-19, synthetic

function partTwo(): string[] {
  const g = new Generator(0);
  const b = 32;
  const model = createModel({ arch: 'vgg19', inputShape: [3, 32, 32], numClasses: 10 }, { generator: g });
  model.eval();
  const images = rand([b, 3, 32, 32], { generator: g }).keep();
  const labels = randint(0, 10, [b], { generator: g }).keep();
  const batch: AttackBatch = { images, labels, indices: Array.from({ length: b }, (_, i) => i) };
  const cfg: PgdConfig = { norm: 'l2', eps: 0.5, iterations: 10, restarts: 1, randomStart: false, seed: 0 };
  for (const p of PRECISIONS) scope(() => pgdAttack(model, batch, { ...cfg, iterations: 2, precision: p })); // warm-up
  const times: Record<string, number[]> = { fp32: [], bf16: [] };
  const answers: Record<string, { success: boolean[]; pred: number[]; ce: number; ceRows: Float32Array }> = {};
  for (let round = 0; round < 3; round++) {
    for (const p of PRECISIONS) {
      const t0 = performance.now();
      const out = scope(() => {
        const o = pgdAttack(model, batch, { ...cfg, precision: p });
        return { records: o.records, adversarial: o.adversarial.keep() };
      });
      times[p]!.push((performance.now() - t0) / 1000);
      if (round === 0) {
        // the returned examples, judged in float32
        const ceRows = scope(() => noGrad(() => F.crossEntropy(model.forward(out.adversarial).logits, labels, { reduction: 'none' }).toFloat32Array()));
        answers[p] = { success: out.records.map((r) => r.success), pred: out.records.map((r) => r.adversarialPrediction),
          ce: ceRows.reduce((a, x) => a + x, 0) / b, ceRows };
      }
      out.adversarial.dispose();
    }
  }
  const cleanCe = scope(() => noGrad(() => F.crossEntropy(model.forward(images).logits, labels).item()));
  const rows: string[] = [];
  const f = answers.fp32!;
  const best = (p: string) => Math.min(...times[p]!);
  for (const p of PRECISIONS) {
    const a = answers[p]!;
    const sps = (b * cfg.iterations) / best(p);
    const rate = a.success.filter(Boolean).length / b;
    const diff = p === 'fp32' ? '—' : `${a.success.filter((s, i) => s !== f.success[i]).length} of ${b}`;
    const predDiff = p === 'fp32' ? '—' : `${a.pred.filter((s, i) => s !== f.pred[i]).length} of ${b}`;
    const ceDiff = p === 'fp32' ? '—' : (a.ceRows.reduce((m, x, i) => Math.max(m, Math.abs(x - f.ceRows[i]!)), 0)).toFixed(3);
    rows.push(`| ${p} | ${sps.toFixed(1)} | ${(best('fp32') / best(p)).toFixed(2)}x | ${times[p]!.map((t) => t.toFixed(2)).join(', ')} | ${(rate * 100).toFixed(1)}% | ${a.ce.toFixed(3)} | ${ceDiff} | ${diff} | ${predDiff} |`);
    log(rows.at(-1)!);
  }
  model.dispose();
  images.dispose();
  labels.dispose();
  return [...rows, '', `Mean cross-entropy of the clean inputs: ${cleanCe.toFixed(3)}.`];
}

// ---------------------------------------------------------------- report

function cpuLine(): string {
  let family = '';
  let bf16 = 'no';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const fam = /^cpu family\s*:\s*(\d+)/m.exec(info)?.[1];
    const mod = /^model\s*:\s*(\d+)/m.exec(info)?.[1];
    if (fam) family = ` (family ${fam}, model ${mod})`;
    if (/\bavx512_bf16\b/.test(info)) bf16 = 'yes';
  } catch { /* not Linux */ }
  return `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}${family}, ${cpus().length} cores, avx512_bf16 flag: ${bf16}; ${getNumThreads()} libtorch threads. ` +
    `libtorch ${buildInfo().libtorch}.`;
}

const one = await partOne();
const two = partTwo();
const wall = (performance.now() - wallStart) / 1000;
const heading = '## bf16 on the CPU: attack throughput and success rates';
const section = [
  heading,
  '',
  cpuLine(),
  `Date: ${new Date().toISOString().slice(0, 10)}. Produced by \`node --import tsx bench/bf16.ts\` (${(wall / 60).toFixed(1)} min).`,
  'bf16 = `precision: \'bf16\'` (`--precision bf16`): the model\'s forward and backward under CPU autocast; the iterate,',
  'the projections and the returned examples stay float32, and success is judged in float32 after the attack.',
  'Steps per second = attacked rows x iterations / seconds.',
  '',
  `**Default Fashion-MNIST model, first ${INPUTS} test inputs, batch ${BATCH}, seed 0** (one timed run per row, after a warm-up).`,
  'Success rate over the correctly classified inputs; "differs" = inputs among those whose success under bf16 differs from fp32.',
  'Feature mean/std for k-NS from `featureStats` over the 10,000-image test split. fakeRelu on as asked for this benchmark;',
  '`sauron attack` and `sauron reproduce` use fakeRelu off for small-cnn (on for ResNets only), so both are measured.',
  ...one.notes,
  '',
  '| attack | precision | seconds | steps/s | speed vs fp32 | success rate | change (points) | differs |',
  '|---|---|---:|---:|---:|---:|---:|---|',
  ...one.rows,
  '',
  '**VGG-19, synthetic 3x32x32 inputs and labels (seeded, random weights), batch 32, PGD L2 eps 0.5, 10 iterations, no random start.**',
  'Steps per second from the best of 3 timed runs (interleaved fp32 / bf16) after a warm-up; success rate over all 32 rows',
  '(here 0%: the randomly initialised network barely responds to its input, its cross-entropy stays at the clean value, so this part measures speed only); mean final cross-entropy of the returned examples, evaluated in float32;',
  'max |CE difference| per row between bf16 and fp32; rows whose success or adversarial prediction differs from fp32.',
  '',
  '| precision | steps/s | speed vs fp32 | runs (s) | success rate | mean final CE | max CE diff | success differs | prediction differs |',
  '|---|---:|---:|---|---:|---:|---:|---|---|',
  ...two,
  '',
].join('\n');
updateBenchmarks(heading, section);
console.log(section);
