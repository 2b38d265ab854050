import { mkdirSync } from 'node:fs';
import { hasFeatureStats, readFeatureStats, writeFeatureStats } from '../analysis/sensitivityFiles.js';
import { Command, Option } from 'commander';
import { addAutoAttackOptions, autoAttackAction, AUTOATTACK_CHOICES, isAutoAttack, refuseAutoAttackOptions } from './autoAttackOptions.js';
import { openDataset } from '../data/registry.js';
import type { ImageDataset } from '../data/dataset.js';
import type { ImageClassifier } from '../models/classifier.js';
import { featureStats } from '../analysis/featureStats.js';
import { runAttack, type AttackSpec } from '../experiments/attackRun.js';
import { checkBudget, type Norm } from '../attacks/budget.js';
import { ATTACK_DEFAULTS, resolveFakeRelu } from '../attacks/defaults.js';
import { addProcessGroupOptions, joinProcessGroup, nonNegativeInt, positiveInt, positiveNumber, precisionOption } from './options.js';
import { fromRoot } from '../tensor/collectives.js';
import type { Precision } from '../tensor/device.js';
import { ProgressBar } from './progressDisplay.js';
import { MODEL, OUTPUT } from './helpGroups.js';
import { modelDataOptions, openAttackModels, type ModelDataCli } from './modelDataOptions.js';

interface AttackCli extends ModelDataCli {
  precision: Precision;
  attack: 'pgd' | 'kns' | (typeof AUTOATTACK_CHOICES)[number];
  version: 'standard' | 'plus' | 'rand' | 'custom';
  attacks?: string;
  norm: Norm;
  eps: number;
  iterations?: number;
  stepSize?: number;
  restarts: number;
  randomStart: boolean;
  targetClass?: number;
  against: 'prediction' | 'label';
  earlyStop?: boolean;
  foldBatchNorm: boolean;
  neurons: string;
  ranks?: string;
  lambda: number;
  fakeRelu: 'auto' | 'on' | 'off';
  sensitivity?: string;
  statsSplit: 'train+test' | 'train' | 'test';
  batchSize: number;
  seed: number;
  saveExamples?: boolean;
  targetModel?: string;
  out: string;
  resume?: boolean;
  backend: string;
  distTimeout: number;
}

function parseList(v: string): number[] {
  const xs = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 1))
    throw new Error(`--neurons must be a list of positive integers like 1,4,8,16, got '${v}'`);
  return [...new Set(xs)].sort((a, b) => a - b);
}

function parseWindow(v: string): { start: number; count: number } {
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m || Number(m[2]) < 1) throw new Error(`--ranks must look like START:COUNT (0-based start), got '${v}'`);
  return { start: Number(m[1]), count: Number(m[2]) };
}

export function attackCommand(): Command {
  return addProcessGroupOptions(
    addAutoAttackOptions(
      modelDataOptions(
        new Command('attack')
          .summary('Attack a model with PGD, k-NS or AutoAttack under an L2 or Linf budget')
          .description(
            'Attack a model under an L2 or Linf budget: PGD (untargeted or targeted), k-NS (the neuron sensitivity ' +
              "attack) or AutoAttack (RobustBench's robust accuracy against the true labels, with checks that the evaluation can be " +
              'trusted). Writes results.json and samples.csv; with --save-examples also clean.npy, adversarial.npy and indices.npy; ' +
              'for k-NS also success-by-rank.png/.svg. An interrupted attack continues with --resume. Started as several ranks ' +
              '(sauron launch, torchrun --no-python), the ranks take turns at the batches (AutoAttack: they share the inputs ' +
              'each of its attacks has left, in turn) and rank 0 writes exactly the files one process writes.',
          ),
        'to attack',
        'inputs',
      )
        .optionsGroup(MODEL)
        .option('--target-model <run>', 'also evaluate the adversarial examples on this model (transfer)')
        .optionsGroup('Attack:')
        .addOption(
          new Option(
            '--attack <name>',
            "pgd, kns (k-NS, the neuron sensitivity attack), autoattack, or one of AutoAttack's " +
              'attacks alone (as its --version custom runs it)',
          )
            .choices(['pgd', 'kns', ...AUTOATTACK_CHOICES])
            .default('pgd'),
        )
        .addOption(new Option('--norm <norm>', 'budget norm').choices(['l2', 'linf']).makeOptionMandatory())
        .requiredOption('--eps <eps>', 'budget; fractions like 8/255 are accepted', positiveNumber('--eps'))
        .option(
          '--iterations <n>',
          `iterations (default: pgd ${ATTACK_DEFAULTS.pgd.iterations}, kns ${ATTACK_DEFAULTS.kns.iterations}, as the reference)`,
          positiveInt('--iterations'),
        )
        .option('--step-size <x>', 'step size (default 2.5 * eps / iterations)', positiveNumber('--step-size'))
        .option(
          '--early-stop',
          'PGD: drop an input from the batch once it is fooled, and run later restarts only for the inputs ' +
            'the first missed (the default on the CPU; on a GPU --no-early-stop is the default, faster there: docs/attacks.md, PGD)',
        )
        .option(
          '--no-early-stop',
          "run every input, iteration and restart. PGD: a fooled input's example is then its highest-loss " +
            'iterate, not its first fooling one; kns: rows that cannot move (no gradient at the clean input) step to the end too. ' +
            'Success rates and records are the same either way',
        )
        .option(
          '--no-fold-batch-norm',
          'iterate with batch norm as its own layer. By default each batch norm is folded into the ' +
            'convolution before it while iterating: the same model up to float32 rounding, cheaper steps (BENCHMARKS.md); the clean ' +
            'and final predictions, which decide success, come from the model as given either way',
        )
        .option('--batch-size <n>', 'inputs per batch (k-NS rows = inputs x neurons)', positiveInt('--batch-size'), 128)
        .option('--seed <n>', 'random seed (random starts derive from seed, input index and restart)', nonNegativeInt('--seed'), 0)
        .optionsGroup('PGD:')
        .option(
          '--restarts <n>',
          'restarts (an input counts as fooled once any restart fools it)',
          positiveInt('--restarts'),
          ATTACK_DEFAULTS.pgd.restarts,
        )
        .option('--no-random-start', 'start from the clean input instead of a random point in the budget')
        .option('--target-class <c>', 'targeted attack towards this class', nonNegativeInt('--target-class'))
        .addOption(
          new Option(
            '--against <what>',
            'push away from the clean prediction (success: the prediction changed, as for kns) ' +
              'or from the label (success: misclassified)',
          )
            .choices(['prediction', 'label'])
            .default('prediction'),
        )
        .optionsGroup('k-NS:')
        .option(
          '--neurons <list>',
          'the k of the k-NS success rates (an input is fooled by one of its k most sensitive neurons)',
          '1,4,8,16',
        )
        .option('--ranks <start:count>', 'attack this window of neuron ranks instead (for the rank-r success curve)')
        .option('--lambda <x>', "weight of the attacked neuron's term", positiveNumber('--lambda'), ATTACK_DEFAULTS.kns.lambda)
        .addOption(
          new Option(
            '--fake-relu <when>',
            'identity gradient through the final ReLU (auto: off for VGG and on for ResNets, ' +
              'as the reference, and on for every other architecture; TorchScript models cannot)',
          )
            .choices(['auto', 'on', 'off'])
            .default('auto'),
        )
        .option('--sensitivity <dir>', 'take the feature mean/std from this `sauron sensitivity` output')
        .addOption(
          new Option('--stats-split <which>', 'inputs the feature mean/std are computed over otherwise')
            .choices(['train+test', 'train', 'test'])
            .default('train+test'),
        )
        .optionsGroup(OUTPUT)
        .requiredOption('--out <dir>', 'folder to write results into')
        .option('--resume', 'continue an interrupted attack in --out')
        .option('--save-examples', 'write clean.npy, adversarial.npy and indices.npy')
        .addOption(precisionOption()),
    ),
  ).action(async (o: AttackCli, cmd: Command) => {
    if (!isAutoAttack(o.attack)) refuseAutoAttackOptions(o.attack, cmd);
    const group = joinProcessGroup(o);
    try {
      if (isAutoAttack(o.attack)) await autoAttackAction(o, cmd, group.rank === 0, group.worldSize);
      else await attackAction(o, group.rank === 0, group.worldSize);
    } finally {
      group.leave();
    }
  });
}

async function attackAction(o: AttackCli, lead: boolean, world: number): Promise<void> {
  checkBudget(o.norm, o.eps);
  const precision = o.precision === 'fp32' ? {} : { precision: o.precision };
  const { name, ds, model, target, meta } = await openAttackModels(o);
  try {
    let spec: AttackSpec;
    const fold = o.foldBatchNorm ? {} : { foldBatchNorm: false };
    if (o.attack === 'pgd') {
      if (o.targetClass !== undefined && o.targetClass >= model.numClasses)
        throw new Error(`--target-class must be below ${model.numClasses}`);
      spec = {
        attack: 'pgd',
        norm: o.norm,
        eps: o.eps,
        iterations: o.iterations ?? ATTACK_DEFAULTS.pgd.iterations,
        stepSize: o.stepSize,
        seed: o.seed,
        restarts: o.restarts,
        randomStart: o.randomStart,
        targeted: o.targetClass !== undefined,
        ...(o.against === 'label' ? { against: 'label' as const } : {}),
        ...(o.earlyStop === undefined ? {} : { earlyStop: o.earlyStop }),
        ...fold,
        ...precision,
      };
    } else {
      const neurons = parseList(o.neurons);
      const window = o.ranks ? parseWindow(o.ranks) : { start: 0, count: neurons[neurons.length - 1]! };
      if (window.start + window.count > model.featureDim) {
        throw new Error(`neuron ranks ${window.start + 1}..${window.start + window.count} exceed the model's ${model.featureDim} features`);
      }
      const stats = await knsStats(o, model, name, lead, world);
      spec = {
        attack: 'kns',
        norm: o.norm,
        eps: o.eps,
        iterations: o.iterations ?? ATTACK_DEFAULTS.kns.iterations,
        stepSize: o.stepSize,
        seed: o.seed,
        neurons: neurons.filter((k) => k <= window.count),
        rankStart: window.start,
        rankCount: window.count,
        lambda: o.lambda,
        fakeRelu: resolveFakeRelu(o.fakeRelu, model.config.arch),
        featureMean: stats.mean,
        featureStd: stats.std,
        ...(o.earlyStop === false ? { earlyStop: false } : {}),
        ...fold,
        ...precision,
      };
    }
    const bar = new ProgressBar();
    if (lead) bar.start(`${o.attack} ${o.norm} eps ${+o.eps.toFixed(6)}`);
    const results = await runAttack({
      model,
      dataset: ds,
      spec,
      targetClass: o.targetClass,
      out: o.out,
      batchSize: o.batchSize,
      saveExamples: o.saveExamples,
      targetModel: target,
      resume: o.resume,
      meta,
      acrossRanks: world > 1,
      onProgress: (p) => bar.update(p.done, p.total, p.stats),
    });
    bar.finish();
    if (!lead) return;
    const brief: Record<string, unknown> = {
      out: o.out,
      count: results.count,
      cleanAccuracy: results.cleanAccuracy,
      successRate: results.successRate,
      successRateCorrect: results.successRateCorrect,
      seconds: results.seconds,
    };
    if (results.knsSuccessRate) brief.knsSuccessRateCorrect = results.knsSuccessRateCorrect;
    if (results.transfer) brief.transfer = results.transfer;
    console.log(JSON.stringify(brief));
  } finally {
    model.dispose();
    target?.dispose();
  }
}

async function knsStats(
  o: AttackCli,
  model: ImageClassifier,
  name: string,
  lead: boolean,
  world: number,
): Promise<{ mean: Float32Array; std: Float32Array }> {
  // files are read by rank 0 alone (other ranks may run elsewhere) and handed to the others
  const saved = await fromRoot(() => {
    const from = o.sensitivity ?? (o.resume && hasFeatureStats(o.out) ? o.out : null);
    if (!from) return null;
    const s = readFeatureStats(from);
    return { mean: Array.from(s.mean), std: Array.from(s.std) };
  });
  if (saved) return { mean: Float32Array.from(saved.mean), std: Float32Array.from(saved.std) };
  const sets: ImageDataset[] = [];
  for (const s of o.statsSplit === 'train+test' ? (['train', 'test'] as const) : [o.statsSplit])
    sets.push(await openDataset(name, s, { data: o.data, classes: o.classes }));
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
