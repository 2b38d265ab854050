import { mkdirSync } from 'node:fs';
import { hasFeatureStats, readFeatureStats, writeFeatureStats } from '../analysis/sensitivityFiles.js';
import { Command, Option } from 'commander';
import { openDataset } from '../data/registry.js';
import type { ImageDataset } from '../data/dataset.js';
import { loadAnyModel } from '../models/load.js';
import type { ImageClassifier } from '../models/classifier.js';
import { featureStats } from '../analysis/featureStats.js';
import { runAttack, type AttackSpec } from '../experiments/attackRun.js';
import { checkBudget, type Norm } from '../attacks/budget.js';
import { ATTACK_DEFAULTS, resolveFakeRelu } from '../attacks/defaults.js';
import { addProcessGroupOptions, joinProcessGroup, nonNegativeInt, positiveInt, positiveNumber, precisionOption } from './options.js';
import { fromRoot } from '../tensor/collectives.js';
import type { Precision } from '../tensor/device.js';
import { ProgressBar } from './progressDisplay.js';
import { checkDatasetFits, modelDataOptions, openModelData, torchScriptRecord, type ModelDataCli } from './modelDataOptions.js';

interface AttackCli extends ModelDataCli {
  precision: Precision;
  attack: 'pgd' | 'kns'; norm: Norm; eps: number; iterations?: number; stepSize?: number; restarts: number;
  randomStart: boolean; targetClass?: number; against: 'prediction' | 'label'; earlyStop?: boolean; foldBatchNorm: boolean; neurons: string; ranks?: string; lambda: number; fakeRelu: 'auto' | 'on' | 'off';
  sensitivity?: string; statsSplit: 'train+test' | 'train' | 'test'; batchSize: number; seed: number; saveExamples?: boolean;
  targetModel?: string; out: string; resume?: boolean; backend: string; distTimeout: number;
}

function parseList(v: string): number[] {
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`--neurons must be a list of positive integers like 1,4,8,16, got '${v}'`);
  return [...new Set(xs)].sort((a, b) => a - b);
}

function parseWindow(v: string): { start: number; count: number } {
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m || Number(m[2]) < 1) throw new Error(`--ranks must look like START:COUNT (0-based start), got '${v}'`);
  return { start: Number(m[1]), count: Number(m[2]) };
}

export function attackCommand(): Command {
  return addProcessGroupOptions(modelDataOptions(new Command('attack')
    .description('Attack a model: PGD (untargeted or targeted) or the n-neuron sensitivity attack (k-NS), under an L2\n' +
      'or Linf budget. Writes results.json, samples.csv and, with --save-examples, clean.npy / adversarial.npy /\n' +
      'indices.npy; for k-NS also success-by-rank.png/.svg. An interrupted attack continues with --resume.\n' +
      'Started as several ranks (sauron launch, torchrun --no-python), the ranks take turns at the batches and rank 0\n' +
      'writes exactly the files one process writes.'), 'to attack', 'inputs')
    .addOption(new Option('--attack <name>', 'pgd or kns (n-neuron sensitivity attack)').choices(['pgd', 'kns']).default('pgd'))
    .addOption(new Option('--norm <norm>', 'budget norm').choices(['l2', 'linf']).makeOptionMandatory())
    .requiredOption('--eps <eps>', 'budget; fractions like 8/255 are accepted', positiveNumber('--eps'))
    .option('--iterations <n>', `PGD iterations (default: pgd ${ATTACK_DEFAULTS.pgd.iterations}, kns ${ATTACK_DEFAULTS.kns.iterations} as the reference)`, positiveInt('--iterations'))
    .option('--step-size <x>', 'step size (default 2.5 * eps / iterations)', positiveNumber('--step-size'))
    .option('--restarts <n>', 'PGD restarts (a sample counts once any restart succeeds)', positiveInt('--restarts'), ATTACK_DEFAULTS.pgd.restarts)
    .option('--no-random-start', 'PGD: start from the clean input instead of a random point in the budget')
    .option('--target-class <c>', 'PGD: targeted attack towards this class', nonNegativeInt('--target-class'))
    .option('--early-stop', 'PGD: drop an input from the batch once it is fooled, run later restarts only for inputs the\n' +
      'first missed (the default on the CPU; on a GPU the default is --no-early-stop, faster there: README, sauron attack)')
    .option('--no-early-stop', 'PGD: run every input, iteration and restart (the returned example of a fooled input is then\n' +
      'its highest-loss iterate, not its first fooling one; success rates are the same either way). kns: step every row\n' +
      'to the end, also those that cannot move (no gradient at the clean input); the records are the same either way')
    .option('--no-fold-batch-norm', 'iterate with batch norm as its own layer. By default each batch norm is folded into the\n' +
      'convolution before it while iterating: the same model up to float32 rounding, cheaper steps (BENCHMARKS.md);\n' +
      'the clean and final predictions, which decide success, come from the model as given either way')
    .addOption(new Option('--against <what>', 'PGD: push away from the clean prediction (success: the prediction changed, as for\n' +
      'kns) or from the label (success: misclassified)').choices(['prediction', 'label']).default('prediction'))
    .option('--neurons <list>', 'kns: success rates for the n most sensitive neurons, for each n', '1,4,8,16')
    .option('--ranks <start:count>', 'kns: attack this window of neuron ranks instead (for the per-rank curve)')
    .option('--lambda <x>', 'kns: weight of the attacked neuron\'s term', positiveNumber('--lambda'), ATTACK_DEFAULTS.kns.lambda)
    .addOption(new Option('--fake-relu <when>', 'kns: identity gradient through the final ReLU (auto: off for VGG as the reference,\n' +
      'on for ResNets as the reference and for every other architecture; TorchScript models cannot)')
      .choices(['auto', 'on', 'off']).default('auto'))
    .option('--sensitivity <dir>', 'kns: take the feature mean/std from this `sauron sensitivity` output')
    .addOption(new Option('--stats-split <which>', 'kns: inputs the feature mean/std are computed over otherwise')
      .choices(['train+test', 'train', 'test']).default('train+test'))
    .option('--batch-size <n>', 'inputs per batch (k-NS rows = inputs x neurons)', positiveInt('--batch-size'), 128)
    .option('--seed <n>', 'random seed (random starts derive from seed, input index and restart)', nonNegativeInt('--seed'), 0)
    .option('--save-examples', 'write clean.npy, adversarial.npy and indices.npy')
    .option('--target-model <run>', 'also evaluate the adversarial examples on this model (transfer)')
    .requiredOption('--out <dir>', 'folder to write results into')
    .option('--resume', 'continue an interrupted attack in --out')
    .addOption(precisionOption()))
    .action(async (o: AttackCli) => {
      const group = joinProcessGroup(o);
      try {
        await attackAction(o, group.rank === 0, group.worldSize);
      } finally {
        group.leave();
      }
    });
}

async function attackAction(o: AttackCli, lead: boolean, world: number): Promise<void> {
  checkBudget(o.norm, o.eps);
  const precision = o.precision === 'fp32' ? {} : { precision: o.precision };
  const { name, ds, model, device } = await openModelData(o);
  let target: ImageClassifier | undefined;
  try {
    target = o.targetModel ? loadAnyModel(o.targetModel, { inputShape: ds.imageShape, device }).model : undefined;
    if (target) checkDatasetFits(target, ds);
    const meta = { model: o.model, ...torchScriptRecord(model), targetModel: o.targetModel, dataset: name, classes: o.classes, split: o.split, limit: o.limit, indices: o.indices };
    let spec: AttackSpec;
    const fold = o.foldBatchNorm ? {} : { foldBatchNorm: false };
    if (o.attack === 'pgd') {
      if (o.targetClass !== undefined && o.targetClass >= model.numClasses) throw new Error(`--target-class must be below ${model.numClasses}`);
      spec = { attack: 'pgd', norm: o.norm, eps: o.eps, iterations: o.iterations ?? ATTACK_DEFAULTS.pgd.iterations, stepSize: o.stepSize, seed: o.seed,
        restarts: o.restarts, randomStart: o.randomStart, targeted: o.targetClass !== undefined,
        ...(o.against === 'label' ? { against: 'label' as const } : {}), ...(o.earlyStop === undefined ? {} : { earlyStop: o.earlyStop }), ...fold, ...precision };
    } else {
      const neurons = parseList(o.neurons);
      const window = o.ranks ? parseWindow(o.ranks) : { start: 0, count: neurons[neurons.length - 1]! };
      if (window.start + window.count > model.featureDim) {
        throw new Error(`neuron ranks ${window.start + 1}..${window.start + window.count} exceed the model's ${model.featureDim} features`);
      }
      const stats = await knsStats(o, model, name, lead, world);
      spec = { attack: 'kns', norm: o.norm, eps: o.eps, iterations: o.iterations ?? ATTACK_DEFAULTS.kns.iterations, stepSize: o.stepSize, seed: o.seed,
        neurons: neurons.filter((k) => k <= window.count), rankStart: window.start, rankCount: window.count, lambda: o.lambda,
        fakeRelu: resolveFakeRelu(o.fakeRelu, model.config.arch),
        featureMean: stats.mean, featureStd: stats.std, ...(o.earlyStop === false ? { earlyStop: false } : {}), ...fold, ...precision };
    }
    const bar = new ProgressBar();
    if (lead) bar.start(`${o.attack} ${o.norm} eps ${+o.eps.toFixed(6)}`);
    const results = await runAttack({
      model, dataset: ds, spec, targetClass: o.targetClass, out: o.out, batchSize: o.batchSize,
      saveExamples: o.saveExamples, targetModel: target, resume: o.resume, meta, acrossRanks: world > 1,
      onProgress: (p) => bar.update(p.done, p.total, p.stats),
    });
    bar.finish();
    if (!lead) return;
    const brief: Record<string, unknown> = { out: o.out, count: results.count, cleanAccuracy: results.cleanAccuracy,
      successRate: results.successRate, successRateCorrect: results.successRateCorrect, seconds: results.seconds };
    if (results.nNeuronSuccessRate) brief.nNeuronSuccessRateCorrect = results.nNeuronSuccessRateCorrect;
    if (results.transfer) brief.transfer = results.transfer;
    console.log(JSON.stringify(brief));
  } finally {
    model.dispose();
    target?.dispose();
  }
}

async function knsStats(o: AttackCli, model: ImageClassifier, name: string, lead: boolean, world: number): Promise<{ mean: Float32Array; std: Float32Array }> {
  // files are read by rank 0 alone (other ranks may run elsewhere) and handed to the others
  const saved = await fromRoot(() => {
    const from = o.sensitivity ?? (o.resume && hasFeatureStats(o.out) ? o.out : null);
    if (!from) return null;
    const s = readFeatureStats(from);
    return { mean: Array.from(s.mean), std: Array.from(s.std) };
  });
  if (saved) return { mean: Float32Array.from(saved.mean), std: Float32Array.from(saved.std) };
  const sets: ImageDataset[] = [];
  for (const s of o.statsSplit === 'train+test' ? ['train', 'test'] as const : [o.statsSplit]) sets.push(await openDataset(name, s, { data: o.data, classes: o.classes }));
  const bar = new ProgressBar();
  if (lead) bar.start('feature statistics');
  const st = await featureStats(model, sets, { acrossRanks: world > 1, onProgress: (p) => lead && bar.update(p.done, p.total) });
  bar.finish();
  if (lead) {
    mkdirSync(o.out, { recursive: true });
    writeFeatureStats(o.out, st.mean, st.std);
  }
  return { mean: Float32Array.from(st.mean), std: Float32Array.from(st.std) };
}
