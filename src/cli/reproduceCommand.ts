import { Command, Option } from 'commander';
import { DATASETS } from '../data/registry.js';
import { reproduce } from '../reproduce/pipeline.js';
import { MODEL_KINDS, reproduceSettings, type ModelKind } from '../reproduce/settings.js';
import { deviceOption, nondeterministicOption, useDevice, nonNegativeInt, positiveInt } from './options.js';
import { ProgressBar } from './progressDisplay.js';
import { DATA, MODEL, OUTPUT } from './helpGroups.js';

function parseModels(v: string): Partial<Record<ModelKind, string>> {
  const out: Partial<Record<ModelKind, string>> = {};
  for (const part of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [k, path] = part.split('=');
    if (!path || !(MODEL_KINDS as readonly string[]).includes(k!)) {
      throw new Error(`--models takes KIND=RUN_DIR pairs with KIND one of ${MODEL_KINDS.join(', ')}, got '${part}'`);
    }
    out[k as ModelKind] = path;
  }
  return out;
}

function fmt(s: number): string {
  return s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

export function reproduceCommand(): Command {
  return new Command('reproduce')
    .summary('The paper end to end: train, analyse, attack, prune and write the report')
    .description(
      'The paper end to end: train standard, L2 PGD, Linf PGD and sensitivity-trained models, analyse their ' +
        'sensitivities, run PGD and k-NS (1-NS, 4-NS, 8-NS, 16-NS) under L2 and Linf, prune, and write Table 1, Figures 1-3, ' +
        'the pruning plot and report.md / report.html. Finished steps are skipped when run again (interrupted runs resume).',
    )
    .optionsGroup(DATA)
    .addOption(new Option('--dataset <name>', 'data set').choices([...DATASETS]).default('fashion-mnist'))
    .option('--data <dir>', 'folder with the data set (cifar10, imagenet)')
    .optionsGroup(MODEL)
    .option('--models <list>', 'reuse trained runs, e.g. standard=runs/std,l2=runs/l2 (the others are trained)', parseModels)
    .optionsGroup('Pipeline:')
    .option('--quick', 'small models, few epochs and subsets: minutes instead of an hour')
    .option('--seed <n>', 'random seed', nonNegativeInt('--seed'), 0)
    .option(
      '--ranks <n>',
      'Figure 2 plots rank-r success for r = 1..n (default 16, the largest k of Table 1; up to every ' +
        'feature, at the cost of one neuron attack per input and rank)',
      positiveInt('--ranks'),
    )
    .option(
      '--only <steps>',
      'run only the steps whose id starts with these (comma-separated, e.g. train or ' +
        'train-l2,attack-standard) and write no report: train on a GPU machine, analyse elsewhere',
      (v: string) =>
        v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
    )
    .optionsGroup(OUTPUT)
    .requiredOption('--out <dir>', "folder for every step's results and the report")
    .addOption(deviceOption())
    .addOption(nondeterministicOption())
    .action(
      async (o: {
        dataset: string;
        data?: string;
        quick?: boolean;
        models?: Partial<Record<ModelKind, string>>;
        seed: number;
        out: string;
        device: string;
        nondeterministic?: boolean;
        only?: string[];
        ranks?: number;
      }) => {
        const device = useDevice(o);
        if (o.dataset !== 'fashion-mnist' && !o.data)
          throw new Error(`${o.dataset} is not shipped with Sauron: pass --data DIR pointing at your copy`);
        const base = reproduceSettings(o.dataset, !!o.quick, o.seed);
        const settings = { ...base, data: o.data, kns: { ...base.kns, ranks: o.ranks ?? base.kns.ranks } };
        const bar = new ProgressBar();
        let label = '';
        const { report } = await reproduce({
          out: o.out,
          settings,
          models: o.models,
          device,
          only: o.only,
          command: `sauron ${process.argv.slice(2).join(' ')}`,
          onStep: (i, total, title, eta) => {
            bar.finish();
            label = `[${i}/${total}] ${title}`;
            console.error(`${label}${eta === null ? '' : ` (about ${fmt(eta)} left in all)`}`);
            bar.start(label);
          },
          onProgress: (p) => bar.update(p.done, p.total, p.stats),
          log: (line) => {
            bar.finish();
            console.error(line);
            if (label) bar.start(label);
          },
        });
        bar.finish();
        console.log(report ? `report: ${report}` : `steps done; run without --only to finish the report`);
      },
    );
}
