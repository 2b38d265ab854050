import { readSensitivitySummary } from '../analysis/sensitivityFiles.js';
import { Command, Option } from 'commander';
import { DATASETS, openDataset, subset } from '../data/registry.js';
import type { ImageDataset } from '../data/dataset.js';
import { loadModel, saveModel } from '../models/runFolder.js';
import { writeOutput } from '../serialization/outputDir.js';
import { sensitivity } from '../analysis/sensitivity.js';
import { checkCount, pruneFeatures, pruneOrder, PRUNE_ORDERS, type PruneOrder } from '../analysis/prune.js';
import { pruningCurve } from '../experiments/pruningCurve.js';
import { DEFAULTS } from '../training/config.js';
import type { ImageClassifier } from '../models/classifier.js';
import { deviceOption, nondeterministicOption, useDevice, nonNegativeInt, positiveInt, positiveNumber } from './options.js';
import { ProgressBar } from './progressDisplay.js';
import { checkDatasetFits } from './modelDataOptions.js';
import { DATA, MODEL, OUTPUT } from './helpGroups.js';

interface PruneCli {
  model: string;
  order: PruneOrder;
  count: number;
  sensitivity?: string;
  dataset?: string;
  data?: string;
  seed: number;
  curve?: string;
  limit?: number;
  attackLimit: number;
  attackEps?: number;
  attackSteps: number;
  out: string;
  device: string;
  nondeterministic?: boolean;
}

function parseCounts(v: string): number[] {
  const xs = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 0))
    throw new Error(`--curve must list non-negative integers like 0,32,64, got '${v}'`);
  return [...new Set(xs)].sort((a, b) => a - b);
}

export function pruneCommand(): Command {
  return new Command('prune')
    .summary('Zero the classifier columns of N feature neurons and save the pruned model')
    .description(
      'Zero the classifier columns of N feature neurons (random, most sensitive or least sensitive first) and ' +
        'save the pruned model; with --curve, evaluate accuracy and PGD success at each count for all three orders ' +
        '(pruning.csv, pruning.png/.svg).',
    )
    .optionsGroup(DATA)
    .addOption(new Option('--dataset <name>', "data set (default: the model's)").choices([...DATASETS]))
    .option('--data <dir>', 'folder with the data set (cifar10, imagenet)')
    .optionsGroup(MODEL)
    .requiredOption('--model <run>', 'run folder of the model to prune')
    .optionsGroup('Pruning:')
    .addOption(new Option('--order <order>', 'which features go first').choices([...PRUNE_ORDERS]).makeOptionMandatory())
    .requiredOption('--count <n>', 'how many features to prune', nonNegativeInt('--count'))
    .option('--sensitivity <dir>', 'use the ranking of this `sauron sensitivity` output (else computed on 1,000 test inputs)')
    .option('--seed <n>', 'seed of the random order', nonNegativeInt('--seed'), 0)
    .optionsGroup('Pruning curve:')
    .option('--curve <counts>', 'also evaluate these counts for every order, e.g. 0,32,64,96,128')
    .option('--limit <n>', 'test inputs for accuracy (default all)', positiveInt('--limit'))
    .option('--attack-limit <n>', 'test inputs for the PGD success rate', positiveInt('--attack-limit'), 500)
    .option('--attack-eps <eps>', 'L2 PGD budget (default per data set)', positiveNumber('--attack-eps'))
    .option('--attack-steps <n>', 'PGD steps', positiveInt('--attack-steps'), 20)
    .optionsGroup(OUTPUT)
    .requiredOption('--out <dir>', 'run folder for the pruned model')
    .addOption(deviceOption())
    .addOption(nondeterministicOption())
    .action(async (o: PruneCli) => {
      const { model, manifest } = loadModel(o.model, { device: useDevice(o) });
      try {
        checkCount(o.count, model.featureDim);
        const counts = o.curve ? parseCounts(o.curve) : [];
        for (const c of counts) checkCount(c, model.featureDim);
        const name = o.dataset ?? (manifest.dataset as string | undefined) ?? 'fashion-mnist';
        const test = await openDataset(name, 'test', { data: o.data });
        checkDatasetFits(model, test);
        const ranking = await mostSensitive(o, model, name, test);
        const order = pruneOrder(o.order, ranking, model.featureDim, o.seed);
        const chosen = order.slice(0, o.count);
        // staged: a failed or killed run leaves an earlier pruned model in --out whole
        await writeOutput(
          o.out,
          { kind: 'prune', command: `sauron ${process.argv.slice(2).join(' ')}`, settings: { ...o } },
          async (out) => {
            // the curve restores the classifier when it is done
            if (counts.length) {
              const bar = new ProgressBar();
              bar.start('pruning curve');
              await pruningCurve(model, ranking, counts, test, {
                out,
                seed: o.seed,
                limit: o.limit,
                attackLimit: o.attackLimit,
                attackSteps: o.attackSteps,
                attackEps: o.attackEps ?? DEFAULTS[name]?.validation.eps ?? 0.5,
                onProgress: (p) => bar.update(p.done, p.total),
              });
              bar.finish();
            }
            pruneFeatures(model, chosen);
            saveModel(out, model, {
              ...stripModelFields(manifest),
              prunedFrom: o.model,
              pruning: { order: o.order, count: o.count, seed: o.order === 'random' ? o.seed : undefined, features: chosen },
            });
          },
        );
        console.log(JSON.stringify({ out: o.out, order: o.order, count: o.count, features: chosen.slice(0, 16) }));
      } finally {
        model.dispose();
      }
    });
}

/** The manifest's free-form fields (data set, training, metrics): saveModel writes the rest. */
function stripModelFields(m: Record<string, unknown>): Record<string, unknown> {
  const own = new Set(['format', 'version', 'arch', 'inputShape', 'numClasses', 'width', 'normalization', 'featureDim']);
  return Object.fromEntries(Object.entries(m).filter(([k]) => !own.has(k)));
}

async function mostSensitive(o: PruneCli, model: ImageClassifier, name: string, test: ImageDataset): Promise<number[]> {
  if (o.sensitivity) {
    return readSensitivitySummary(o.sensitivity).mostSensitive;
  }
  if (o.order === 'random' && !o.curve) return Array.from({ length: model.featureDim }, (_, i) => i);
  const bar = new ProgressBar();
  const train = await openDataset(name, 'train', { data: o.data });
  let phase = '';
  const r = await sensitivity(model, subset(test, { limit: 1000 }), {
    statsSets: [train, test],
    onProgress: (ph, p) => {
      if (ph !== phase) {
        phase = ph;
        bar.start(`sensitivity: ${ph}`);
      }
      bar.update(p.done, p.total);
    },
  });
  bar.finish();
  return r.mostSensitive;
}
