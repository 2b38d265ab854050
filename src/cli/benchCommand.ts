import { Command, Option } from 'commander';
import { benchEngine } from '../experiments/engineBenchmark.js';
import { ARCHITECTURES } from '../models/zoo.js';
import { deviceOption, nondeterministicOption, useDevice, imageShape, positiveInt, positiveNumber, precisionOption } from './options.js';
import type { Precision } from '../tensor/device.js';
import { MODEL, OUTPUT } from './helpGroups.js';

export function benchCommand(): Command {
  return new Command('bench')
    .summary('Time a training step and an input-gradient step of a zoo model')
    .description('Time a training step (forward + backward + SGD) and an input-gradient step of a zoo model.')
    .optionsGroup(MODEL)
    .option('--arch <name>', `architecture (${ARCHITECTURES.join(', ')})`, 'vgg19')
    .addOption(
      new Option('--input <CxHxW>', 'input image shape').argParser(imageShape).default([3, 32, 32] as [number, number, number], '3x32x32'),
    )
    .option('--classes <n>', 'number of classes', positiveInt('--classes'), 10)
    .option('--width <w>', 'channel-width multiplier', positiveNumber('--width'), 1)
    .optionsGroup('Timing:')
    .option('--batch <n>', 'batch size', positiveInt('--batch'), 64)
    .option('--steps <n>', 'timed steps (median reported)', positiveInt('--steps'), 10)
    .option('--warmup <n>', 'untimed warm-up steps', positiveInt('--warmup'), 2)
    .optionsGroup(OUTPUT)
    .option('--json', 'print one JSON object only')
    .addOption(deviceOption())
    .addOption(nondeterministicOption())
    .addOption(precisionOption())
    .action(
      (o: {
        arch: string;
        input: [number, number, number];
        classes: number;
        batch: number;
        steps: number;
        warmup: number;
        width: number;
        json?: boolean;
        device: string;
        nondeterministic?: boolean;
        precision: Precision;
      }) => {
        if (!ARCHITECTURES.includes(o.arch)) throw new Error(`unknown architecture '${o.arch}' (available: ${ARCHITECTURES.join(', ')})`);
        const r = benchEngine({
          arch: o.arch,
          inputShape: o.input,
          classes: o.classes,
          batch: o.batch,
          steps: o.steps,
          warmup: o.warmup,
          width: o.width,
          device: useDevice(o),
          precision: o.precision,
        });
        if (o.json) {
          console.log(JSON.stringify(r));
        } else {
          console.log(
            `${r.arch} ${r.inputShape.join('x')} batch ${r.batch}, ${r.device} (${r.precision}), ${r.threads} threads, ` +
              `libtorch ${r.libtorch}${r.cudaBuild ? ' (CUDA build)' : ''}`,
          );
          console.log(`train step (fwd + bwd + SGD): ${r.trainStepMs.toFixed(1)} ms (median of ${r.steps})`);
          console.log(`input-gradient step:          ${r.inputGradStepMs.toFixed(1)} ms (median of ${r.steps})`);
        }
      },
    );
}
