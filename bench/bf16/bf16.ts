// bf16 autocast on the CPU: attack throughput and success rates, fp32 against bf16 in one run.
//   node --import tsx bench/bf16/bf16.ts
// Part 1: the default Fashion-MNIST model (trained into runs/bench-std with the library's
// train() if that run does not exist), the first 1,000 test inputs, PGD L2 / Linf and the
// 1-NS (k-NS with k = 1). Part 2: VGG-19 on synthetic CIFAR-shaped inputs, PGD L2.
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createModel, Generator, scope, noGrad } from '../../src/index.js';
import { rand, randint, getNumThreads } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { buildInfo, type Precision } from '../../src/tensor/device.js';
import { pgdAttack, type AttackBatch, type PgdConfig } from '../../src/attacks/pgd.js';
import { knsAttack, type KnsConfig } from '../../src/attacks/kns.js';
import type { SampleRecord } from '../../src/attacks/attackTypes.js';
import { batches } from '../../src/data/loader.js';
import { openDataset, subset } from '../../src/data/registry.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import type { ImageClassifier } from '../../src/models/classifier.js';
import { featureStats } from '../../src/analysis/featureStats.js';
import { loadModel, MANIFEST_FILE } from '../../src/models/runFolder.js';
import { train } from '../../src/training/train.js';
import { DEFAULTS, type TrainConfig } from '../../src/training/config.js';
import { tableRow, updateBenchmarks } from '../shared/report.js';
import { calibratedVgg } from '../shared/calibratedVgg.js';
import { ROOT } from '../shared/sauron.js';

const RUN = join(ROOT, 'runs', 'bench-std');
const INPUTS = 1000;
const BATCH = 128;
const PASSES = 2;
const PRECISIONS: Precision[] = ['fp32', 'bf16'];
const wallStart = performance.now();
const loadBefore = loadavg()[0]!;
const log = (s: string) => console.error(s);

// ---------------------------------------------------------------- part 1: Fashion-MNIST model

/** What `sauron train --out runs/bench-std` runs: method standard, fashion-mnist defaults, seed 0. */
function standardConfig(): TrainConfig {
  const d = DEFAULTS['fashion-mnist']!;
  return {
    method: 'standard',
    dataset: 'fashion-mnist',
    arch: d.arch,
    width: d.width,
    epochs: d.epochs,
    batchSize: d.batchSize,
    lr: d.lr,
    momentum: d.momentum,
    weightDecay: d.weightDecay,
    schedule: d.schedule,
    stepEpochs: d.stepEpochs,
    gamma: d.gamma,
    seed: 0,
    imageSize: d.imageSize,
    augment: { ...d.augment },
    validation: { ...d.validation },
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
  /** Records returned (one per input for PGD, one per neuron attack for k-NS). */
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
      const out =
        spec.kind === 'pgd' ? pgdAttack(model, batch, { ...spec.cfg, precision }) : knsAttack(model, batch, { ...spec.cfg, precision });
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
  const pgdBase = { restarts: 1, randomStart: true, seed: 0, iterations: 20, earlyStop: false };
  const knsBase = { norm: 'l2' as const, eps: 1.5, iterations: 50, seed: 0, rankCount: 1, lambda: 10, featureMean, featureStd };
  const specs: Spec[] = [
    { name: 'PGD L2 eps 1.5, 20 iterations, random start', kind: 'pgd', cfg: { ...pgdBase, norm: 'l2', eps: 1.5 } },
    { name: 'PGD Linf eps 0.1, 20 iterations, random start', kind: 'pgd', cfg: { ...pgdBase, norm: 'linf', eps: 0.1 } },
    // budgets where the standard model is not saturated, so a change in success can show
    { name: 'PGD L2 eps 0.5, 20 iterations, random start', kind: 'pgd', cfg: { ...pgdBase, norm: 'l2', eps: 0.5 } },
    { name: 'PGD Linf eps 0.03, 20 iterations, random start', kind: 'pgd', cfg: { ...pgdBase, norm: 'linf', eps: 0.03 } },
    { name: '1-NS, L2 eps 1.5, 50 iterations, lambda 10, fakeRelu on', kind: 'kns', cfg: { ...knsBase, fakeRelu: true } },
    { name: '1-NS, same, fakeRelu off', kind: 'kns', cfg: { ...knsBase, fakeRelu: false } },
  ];
  // warm-up: one small batch per attack kind and precision (kernel selection, allocator)
  const warm = subset(testSet, { limit: 16 });
  for (const p of PRECISIONS) {
    for (const kind of ['pgd', 'kns'] as const) {
      const s = specs.find((x) => x.kind === kind)!;
      await runCase(model, warm, { ...s, cfg: { ...s.cfg, iterations: 2 } } as Spec, p);
    }
  }
  const rows: string[] = [];
  let correctCount = 0;
  let repeatsIdentical = true;
  for (const spec of specs) {
    const res: Partial<Record<Precision, CaseResult>> = {};
    const times: Record<string, number[]> = { fp32: [], bf16: [] };
    for (let pass = 0; pass < PASSES; pass++) {
      for (const p of PRECISIONS) {
        const r = await runCase(model, ds, spec, p);
        times[p]!.push(r.seconds);
        log(`${spec.name} ${p} pass ${pass + 1}: ${r.seconds.toFixed(1)} s (load ${loadavg()[0]!.toFixed(2)})`);
        const first = res[p];
        if (!first) res[p] = r;
        else if ([...r.byIndex].some(([i, x]) => x.success !== first.byIndex.get(i)!.success)) repeatsIdentical = false;
      }
    }
    for (const p of PRECISIONS) res[p]!.seconds = Math.min(...times[p]!);
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
      rows.push(
        tableRow([
          spec.name,
          p,
          c.seconds.toFixed(1),
          steps.toFixed(0),
          `${(ref.seconds / c.seconds).toFixed(2)}x`,
          `${(rate(c) * 100).toFixed(1)}%`,
          extra,
        ]),
      );
      log(rows.at(-1)!);
    }
  }
  model.dispose();
  const notes = [
    `Model: ${manifest.arch} (width ${manifest.width}) in runs/bench-std, ${trained}; ${correctCount} of the first ${INPUTS} test inputs correctly classified.`,
    `Seconds: the faster of ${PASSES} interleaved passes (fp32, bf16, fp32, bf16); ` +
      `the repeated pass gave ${repeatsIdentical ? 'the same' : 'DIFFERENT'} per-input success in both precisions.`,
  ];
  return { rows, notes };
}

// ---------------------------------------------------------------- part 2: VGG-19, synthetic

/** VGG-19 as bench/attacks/attack.ts builds it (seeded weights, fresh batch-norm statistics). */
function vgg(): ImageClassifier {
  return createModel({ arch: 'vgg19', inputShape: [3, 32, 32], numClasses: 10 }, { generator: new Generator(0) });
}

function partTwo(): string[] {
  const b = 32;
  // images and labels drawn as in bench/attacks/attack.ts: after the model, from the same generator
  const g = new Generator(0);
  createModel({ arch: 'vgg19', inputShape: [3, 32, 32], numClasses: 10 }, { generator: g }).dispose();
  const images = rand([b, 3, 32, 32], { generator: g }).keep();
  const labels = randint(0, 10, [b], { generator: g }).keep();
  const batch: AttackBatch = { images, labels, indices: Array.from({ length: b }, (_, i) => i) };
  const cfg: PgdConfig = { norm: 'l2', eps: 0.5, iterations: 10, restarts: 1, randomStart: false, seed: 0, earlyStop: false };
  const rows: string[] = [];
  for (const [name, make] of [
    ['as initialised', vgg],
    ['batch-norm statistics from 1,920 synthetic images', calibratedVgg],
  ] as const) {
    const model = make();
    model.eval();
    for (const p of PRECISIONS) scope(() => pgdAttack(model, batch, { ...cfg, iterations: 2, precision: p })); // warm-up
    const { cleanCe, cleanAcc } = scope(() =>
      noGrad(() => {
        const logits = model.forward(images).logits;
        return {
          cleanCe: F.crossEntropy(logits, labels, { reduction: 'none' }).toFloat32Array(),
          cleanAcc: logits.argmax(1).eq(labels).float().mean().item(),
        };
      }),
    );
    const times: Record<string, number[]> = { fp32: [], bf16: [] };
    const answers: Record<string, { success: boolean[]; pred: number[]; ceGain: number; l2: number; delta: Float32Array }> = {};
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
          const ceRows = scope(() =>
            noGrad(() => F.crossEntropy(model.forward(out.adversarial).logits, labels, { reduction: 'none' }).toFloat32Array()),
          );
          const delta = scope(() => out.adversarial.sub(images).toFloat32Array());
          answers[p] = {
            success: out.records.map((r) => r.success),
            pred: out.records.map((r) => r.adversarialPrediction),
            ceGain: ceRows.reduce((acc, x, i) => acc + x - cleanCe[i]!, 0) / b,
            l2: out.records.reduce((acc, r) => acc + r.l2, 0) / b,
            delta,
          };
        } else if (out.records.some((r, i) => r.success !== answers[p]!.success[i])) {
          throw new Error(`VGG-19 ${p}: a repeated attack gave other answers`);
        }
        out.adversarial.dispose();
      }
    }
    const f = answers.fp32!;
    const best = (p: string) => Math.min(...times[p]!);
    for (const p of PRECISIONS) {
      const a = answers[p]!;
      const sps = (b * cfg.iterations) / best(p);
      const rate = a.success.filter(Boolean).length / b;
      const diff = p === 'fp32' ? '—' : `${a.success.filter((s, i) => s !== f.success[i]).length} of ${b}`;
      const predDiff = p === 'fp32' ? '—' : `${a.pred.filter((s, i) => s !== f.pred[i]).length} of ${b}`;
      let rel = '—';
      if (p !== 'fp32') {
        let num = 0;
        let den = 0;
        for (let i = 0; i < a.delta.length; i++) {
          num += (a.delta[i]! - f.delta[i]!) ** 2;
          den += f.delta[i]! ** 2;
        }
        rel = den > 0 ? Math.sqrt(num / den).toFixed(3) : num > 0 ? 'fp32 perturbation is 0' : '0 (both 0)';
      }
      rows.push(
        tableRow([
          `${name} (clean accuracy ${(cleanAcc * 100).toFixed(1)}%)`,
          p,
          sps.toFixed(1),
          `${(best('fp32') / best(p)).toFixed(2)}x`,
          times[p]!.map((t) => t.toFixed(2)).join(', '),
          `${(rate * 100).toFixed(1)}%`,
          a.ceGain.toExponential(2),
          a.l2.toFixed(3),
          rel,
          diff,
          predDiff,
        ]),
      );
      log(rows.at(-1)!);
    }
    model.dispose();
  }
  images.dispose();
  labels.dispose();
  return rows;
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
  } catch {
    /* not Linux */
  }
  return (
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}${family}, ${cpus().length} cores, avx512_bf16 flag: ${bf16}; ${getNumThreads()} libtorch threads. ` +
    `libtorch ${buildInfo().libtorch}.`
  );
}

const one = await partOne();
const two = partTwo();
const wall = (performance.now() - wallStart) / 1000;
const heading = '## bf16 on the CPU: attack throughput and success rates';
const section = [
  heading,
  '',
  cpuLine(),
  `Date: ${new Date().toISOString().slice(0, 10)}. Produced by \`node --import tsx bench/bf16/bf16.ts\` (${(wall / 60).toFixed(1)} min; ` +
    `1-minute load average ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after).`,
  "bf16 = `precision: 'bf16'` (`--precision bf16`): the model's forward and backward under CPU autocast; the iterate,",
  'the projections and the returned examples stay float32, and success is judged in float32 after the attack.',
  'Steps per second = attacked rows x iterations / seconds.',
  '',
  `**Default Fashion-MNIST model, first ${INPUTS} test inputs, batch ${BATCH}, seed 0** (after a warm-up).`,
  'Success rate over the correctly classified inputs; "differs" = inputs among those whose success under bf16 differs from fp32.',
  'Feature mean/std for k-NS from `featureStats` over the 10,000-image test split. fakeRelu on as asked for this benchmark;',
  '`sauron attack` and `sauron reproduce` use fakeRelu off for small-cnn (on for ResNets only), so both are measured.',
  ...one.notes,
  '',
  '| attack | precision | seconds | steps/s | speed vs fp32 | success rate | change (points) | differs |',
  '|---|---|---:|---:|---:|---:|---:|---|',
  ...one.rows,
  '',
  '**VGG-19, synthetic 3x32x32 inputs and labels (seeded as in bench/attacks/attack.ts), batch 32, PGD L2 eps 0.5, 10 iterations, no random start.**',
  'Steps per second from the best of 3 timed runs (interleaved fp32 / bf16) after a warm-up; each repeat gave the same per-row success.',
  'The model as initialised (batch-norm running mean 0, variance 1, as in bench/attacks/attack.ts) gives logits that barely depend on the',
  'input: fp32 PGD kept the clean start of every row (mean L2 0), bf16 PGD returned points off the start on some rows with the same',
  'predictions, so success cannot show a difference there; the same weights with batch-norm statistics',
  'measured on 1,920 other synthetic images (30 train-mode forwards without gradients) respond to the input and show the answers.',
  'Success rate over all 32 rows; CE gain = mean (cross-entropy of the returned example - clean cross-entropy), both in float32;',
  'mean L2 of the returned perturbation; relative difference = ||delta_bf16 - delta_fp32|| / ||delta_fp32|| over the batch;',
  'rows whose success or adversarial prediction differs from fp32.',
  '',
  '| model | precision | steps/s | speed vs fp32 | runs (s) | success rate | CE gain | mean L2 | relative difference | success differs | prediction differs |',
  '|---|---|---:|---:|---|---:|---:|---:|---:|---|---|',
  ...two,
  '',
].join('\n');
updateBenchmarks(heading, section);
console.log(section);
