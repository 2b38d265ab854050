import { Command, Option } from 'commander';
import { DATASETS } from '../data/registry.js';
import { ARCHITECTURES } from '../models/zoo.js';
import { DEFAULTS, SCHEDULES, type ScheduleName, type TrainConfig } from '../training/config.js';
import { train } from '../training/train.js';
import { nonNegativeInt, positiveInt, positiveNumber } from './options.js';
import { ProgressBar } from './progress.js';

interface TrainCli {
  dataset: string; data?: string; arch?: string; width?: number; epochs?: number; batchSize?: number; lr?: number;
  momentum?: number; weightDecay?: number; schedule?: ScheduleName; seed?: number; limit?: number; testLimit?: number;
  crop?: number; flip?: boolean; out: string; resume?: boolean; force?: boolean; method: string;
}

function nonNegativeNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got '${v}'`);
    return n;
  };
}

export function trainCommand(): Command {
  return new Command('train')
    .description('Train a model on a data set and write a run folder (model.safetensors, model.json, metrics.jsonl).\n' +
      'Defaults are chosen per data set: `sauron train --dataset fashion-mnist --out runs/std` trains the\n' +
      'embedded default in minutes. An interrupted run continues with --resume.')
    .addOption(new Option('--dataset <name>', 'data set').choices([...DATASETS]).default('fashion-mnist'))
    .option('--data <dir>', 'folder with the data set (cifar10, imagenet; fashion-mnist is embedded)')
    .addOption(new Option('--method <name>', 'training method').choices(['standard']).default('standard'))
    .option('--arch <name>', `architecture (${ARCHITECTURES.join(', ')})`)
    .option('--width <w>', 'channel-width multiplier', positiveNumber('--width'))
    .option('--epochs <n>', 'epochs', positiveInt('--epochs'))
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'))
    .option('--lr <x>', 'peak learning rate (SGD)', positiveNumber('--lr'))
    .option('--momentum <x>', 'SGD momentum', nonNegativeNumber('--momentum'))
    .option('--weight-decay <x>', 'weight decay', nonNegativeNumber('--weight-decay'))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices([...SCHEDULES]))
    .option('--crop <pixels>', 'random-crop padding (0 = off)', nonNegativeInt('--crop'))
    .option('--flip', 'random horizontal flips')
    .option('--no-flip', 'no horizontal flips')
    .option('--seed <n>', 'random seed (same seed, same machine: same metrics)', nonNegativeInt('--seed'))
    .option('--limit <n>', 'train on the first N training samples', positiveInt('--limit'))
    .option('--test-limit <n>', 'evaluate on the first N test samples', positiveInt('--test-limit'))
    .requiredOption('--out <dir>', 'run folder to write')
    .option('--resume', 'continue the interrupted run in --out with its saved settings')
    .option('--force', 'replace a run that already exists in --out')
    .action(async (o: TrainCli) => {
      const d = DEFAULTS[o.dataset]!;
      if (o.arch !== undefined && !ARCHITECTURES.includes(o.arch)) {
        throw new Error(`unknown architecture '${o.arch}' (available: ${ARCHITECTURES.join(', ')})`);
      }
      if (o.resume && o.force) throw new Error('--resume and --force contradict each other');
      const config: TrainConfig = {
        method: 'standard', dataset: o.dataset, data: o.data, arch: o.arch ?? d.arch, width: o.width ?? d.width,
        epochs: o.epochs ?? d.epochs, batchSize: o.batchSize ?? d.batchSize, lr: o.lr ?? d.lr, momentum: o.momentum ?? d.momentum,
        weightDecay: o.weightDecay ?? d.weightDecay, schedule: o.schedule ?? d.schedule, stepEpochs: d.stepEpochs, gamma: d.gamma,
        seed: o.seed ?? d.seed, limit: o.limit, testLimit: o.testLimit, imageSize: d.imageSize,
        augment: { cropPadding: o.crop ?? d.augment.cropPadding, hflip: o.flip ?? d.augment.hflip },
      };
      const bar = new ProgressBar();
      const r = await train(config, {
        out: o.out, resume: o.resume, force: o.force,
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
      console.log(JSON.stringify({ out: o.out, testAccuracy: r.final?.accuracy, epochs: r.metrics.length,
        seconds: +r.metrics.reduce((a, m) => a + m.seconds, 0).toFixed(1) }));
    });
}
