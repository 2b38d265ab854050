import { Command, Option } from 'commander';
import { DATASETS } from '../data/registry.js';
import { ARCHITECTURES } from '../models/zoo.js';
import {
  DEFAULTS,
  KEEPS,
  METHODS,
  SCHEDULES,
  type KeepName,
  type MethodName,
  type ScheduleName,
  type TrainConfig,
} from '../training/config.js';
import { train } from '../training/train.js';
import {
  addProcessGroupOptions,
  deviceOption,
  joinProcessGroup,
  nondeterministicOption,
  useDevice,
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
  positiveNumber,
  precisionOption,
} from './options.js';
import type { Precision } from '../tensor/device.js';
import { ProgressBar } from './progressDisplay.js';
import { DATA, DEVICES, MODEL, OUTPUT } from './helpGroups.js';

interface TrainCli {
  dataset: string;
  data?: string;
  classes?: string;
  arch?: string;
  width?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  schedule?: ScheduleName;
  seed?: number;
  limit?: number;
  testLimit?: number;
  crop?: number;
  flip?: boolean;
  out?: string;
  resume?: boolean | string;
  force?: boolean;
  method: MethodName;
  norm?: 'l2' | 'linf';
  eps?: number;
  attackSteps?: number;
  topK?: number;
  delta1?: number;
  delta2?: number;
  valEps?: number;
  valSteps?: number;
  valLimit?: number;
  keep?: KeepName;
  device: string;
  nondeterministic?: boolean;
  precision: Precision;
  backend: string;
  distTimeout: number;
  batchNorm: boolean;
  syncBn?: boolean;
}

export function trainCommand(): Command {
  return addProcessGroupOptions(
    new Command('train')
      .summary('Train a model (standard, adversarial or with the sensitivity regularizer)')
      .description(
        'Train a model on a data set and write a run folder (model.safetensors, model.json, metrics.jsonl). ' +
          'Defaults are chosen per data set: `sauron train --dataset fashion-mnist --out runs/std` trains the embedded default ' +
          'in minutes. An interrupted run continues with --resume. Data-parallel: started as several ranks (`sauron launch ' +
          '--nproc N -- train ...`, torchrun --no-python, or any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), ' +
          'each rank trains on its share of every --batch-size batch (the global batch) and rank 0 writes the run; --resume ' +
          'works with any number of ranks.',
      )
      .optionsGroup(DATA)
      .addOption(new Option('--dataset <name>', 'data set').choices([...DATASETS]).default('fashion-mnist'))
      .option('--data <dir>', 'folder with the data set (cifar10, imagenet; fashion-mnist is embedded)')
      .option(
        '--classes <file>',
        'image folders: the classes in order, one folder name a line (imagenet: the shipped 1000 ' +
          'ImageNet classes); each folder is labelled with its position, and a listed class may have no images',
      )
      .option('--limit <n>', 'train on the first N training samples', positiveInt('--limit'))
      .option('--test-limit <n>', 'evaluate on the first N test samples', positiveInt('--test-limit'))
      .option('--crop <pixels>', 'random-crop padding (0 = off)', nonNegativeInt('--crop'))
      .option('--flip', 'random horizontal flips')
      .option('--no-flip', 'no horizontal flips')
      .optionsGroup(MODEL)
      .option('--arch <name>', `architecture (${ARCHITECTURES.join(', ')})`)
      .option('--width <w>', 'channel-width multiplier', positiveNumber('--width'))
      .option('--no-batch-norm', "small-cnn, VGG: without batch norm (data-parallel ranks then take exactly one process's steps)")
      .optionsGroup('Training:')
      .addOption(
        new Option('--method <name>', "standard, pgd (adversarial training) or sensitivity (the paper's regularizer)")
          .choices([...METHODS])
          .default('standard'),
      )
      .option('--epochs <n>', 'epochs', positiveInt('--epochs'))
      .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'))
      .option('--lr <x>', "peak learning rate (SGD; --method sensitivity on cifar10: the reference's 0.01)", positiveNumber('--lr'))
      .option('--momentum <x>', 'SGD momentum', nonNegativeNumber('--momentum'))
      .option('--weight-decay <x>', 'weight decay', nonNegativeNumber('--weight-decay'))
      .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices([...SCHEDULES]))
      .option('--seed <n>', 'random seed (same seed, same machine: same metrics)', nonNegativeInt('--seed'))
      .addOption(
        new Option(
          '--keep <which>',
          "weights to keep: the last epoch's, or the epoch with the highest robust accuracy " +
            'under the validation attack (default: best-robust for --method sensitivity, as the reference; last otherwise)',
        ).choices([...KEEPS]),
      )
      .optionsGroup('Adversarial training (--method pgd):')
      .addOption(new Option('--norm <norm>', 'attack norm').choices(['l2', 'linf']))
      .option('--eps <eps>', 'attack budget (fractions like 8/255 accepted)', positiveNumber('--eps'))
      .option('--attack-steps <n>', 'PGD steps per training batch', positiveInt('--attack-steps'))
      .optionsGroup('Sensitivity regularizer (--method sensitivity):')
      .option('--top-k <k>', 'features in each top-k term (16)', positiveInt('--top-k'))
      .option(
        '--delta1 <x>',
        "weight of T1 (default per data set: 1 on fashion-mnist, the reference's 10 otherwise)",
        nonNegativeNumber('--delta1'),
      )
      .option(
        '--delta2 <x>',
        "weight of T2 (default per data set: 10 on fashion-mnist, the reference's 100 otherwise)",
        nonNegativeNumber('--delta2'),
      )
      .optionsGroup('Validation:')
      .option('--val-eps <eps>', 'L2 PGD budget of the per-epoch validation attack', positiveNumber('--val-eps'))
      .option('--val-steps <n>', 'steps of the per-epoch validation attack', positiveInt('--val-steps'))
      .option('--val-limit <n>', 'test inputs the per-epoch validation attack uses (0 = off)', nonNegativeInt('--val-limit'))
      .optionsGroup(OUTPUT)
      .option('--out <dir>', 'run folder to write')
      .option('--resume [run]', 'continue the interrupted run in RUN (or --out) with its saved settings')
      .option('--force', 'replace a run that already exists in --out')
      .optionsGroup(DEVICES)
      .option(
        '--sync-bn',
        "data-parallel runs: batch-norm statistics over the whole global batch (PyTorch's SyncBatchNorm); " +
          'by default each rank normalises with its own share, as DDP does',
      )
      .addOption(deviceOption())
      .addOption(nondeterministicOption())
      .addOption(precisionOption()),
  ).action(async (o: TrainCli) => {
    const group = joinProcessGroup(o);
    try {
      await trainAction(o, group.rank);
    } finally {
      group.leave();
    }
  });
}

async function trainAction(o: TrainCli, rank: number): Promise<void> {
  const device = useDevice(o);
  const d = DEFAULTS[o.dataset]!;
  if (o.arch !== undefined && !ARCHITECTURES.includes(o.arch)) {
    throw new Error(`unknown architecture '${o.arch}' (available: ${ARCHITECTURES.join(', ')})`);
  }
  if (o.resume && o.force) throw new Error('--resume and --force contradict each other');
  if (typeof o.resume === 'string' && o.out !== undefined && o.out !== o.resume) {
    throw new Error(`--resume ${o.resume} and --out ${o.out} name different folders`);
  }
  const out = o.out ?? (typeof o.resume === 'string' ? o.resume : undefined);
  if (out === undefined) throw new Error('say where the run goes: --out RUN_DIR (or --resume RUN_DIR to continue one)');
  const config: TrainConfig = {
    method: o.method,
    dataset: o.dataset,
    data: o.data,
    ...(o.classes !== undefined ? { classes: o.classes } : {}),
    arch: o.arch ?? d.arch,
    width: o.width ?? d.width,
    ...(o.batchNorm === false ? { batchNorm: false as const } : {}),
    ...(o.syncBn ? { syncBn: true as const } : {}),
    epochs: o.epochs ?? d.epochs,
    batchSize: o.batchSize ?? d.batchSize,
    lr: o.lr ?? (o.method === 'sensitivity' ? (d.sensitivity.lr ?? d.lr) : d.lr),
    momentum: o.momentum ?? d.momentum,
    weightDecay: o.weightDecay ?? d.weightDecay,
    schedule: o.schedule ?? d.schedule,
    stepEpochs: d.stepEpochs,
    gamma: d.gamma,
    seed: o.seed ?? d.seed,
    limit: o.limit,
    testLimit: o.testLimit,
    imageSize: d.imageSize,
    augment: { cropPadding: o.crop ?? d.augment.cropPadding, hflip: o.flip ?? d.augment.hflip },
    validation: { eps: o.valEps ?? d.validation.eps, steps: o.valSteps ?? d.validation.steps, limit: o.valLimit ?? d.validation.limit },
    // fp32 runs keep the config they always had
    ...(o.precision === 'fp32' ? {} : { precision: o.precision }),
    ...((o.keep ?? (o.method === 'sensitivity' ? d.sensitivity.keep : 'last')) === 'best-robust' ? { keep: 'best-robust' as const } : {}),
  };
  if (o.method === 'pgd') {
    config.adversarial = {
      norm: o.norm ?? d.adversarial.norm,
      eps: o.eps ?? d.adversarial.eps,
      steps: o.attackSteps ?? d.adversarial.steps,
    };
  } else if (o.norm || o.eps || o.attackSteps) {
    throw new Error('--norm, --eps and --attack-steps apply to --method pgd only');
  }
  if (o.method === 'sensitivity') {
    config.regularizer = {
      topK: o.topK ?? d.regularizer.topK,
      delta1: o.delta1 ?? d.regularizer.delta1,
      delta2: o.delta2 ?? d.regularizer.delta2,
    };
  } else if (o.topK !== undefined || o.delta1 !== undefined || o.delta2 !== undefined) {
    throw new Error('--top-k, --delta1 and --delta2 apply to --method sensitivity only');
  }
  const bar = new ProgressBar();
  // the other ranks train silently: rank 0 speaks for the run
  if (rank !== 0) {
    await train(config, { out, resume: !!o.resume, force: o.force, device });
    return;
  }
  const r = await train(config, {
    out,
    resume: !!o.resume,
    force: o.force,
    device,
    onProgress: (p) => {
      if (p.done === 1) bar.start(`epoch ${p.epoch}/${p.epochs} ${p.phase}`);
      bar.update(p.done, p.total, p.stats);
    },
    log: (line) => {
      bar.finish();
      console.error(line);
    },
  });
  bar.finish();
  console.log(
    JSON.stringify({
      out,
      method: r.config.method,
      testAccuracy: r.final?.accuracy,
      epochs: r.metrics.length,
      pgdSuccessRate: r.metrics.at(-1)?.pgdSuccessRate ?? null,
      seconds: +r.metrics.reduce((a, m) => a + m.seconds, 0).toFixed(1),
    }),
  );
}
