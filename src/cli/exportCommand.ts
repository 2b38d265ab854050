import { basename, dirname, join } from 'node:path';
import { withOutputLock } from '../serialization/outputDir.js';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { Command } from 'commander';
import { loadModel } from '../models/runFolder.js';
import { exportTorchScript } from '../models/export.js';
import { deviceOption, nondeterministicOption, useDevice } from './options.js';
import { MODEL, OUTPUT } from './helpGroups.js';

export function exportCommand(): Command {
  return new Command('export')
    .summary('Write a Sauron model as a TorchScript file for Python')
    .description(
      'Write a Sauron model as a TorchScript file for Python: torch.jit.load(FILE)(images) returns ' +
        '(logits, features); images in [0, 1], normalisation inside, parameters named like features_0_weight.',
    )
    .optionsGroup(MODEL)
    .requiredOption('--model <run>', 'run folder of the model')
    .optionsGroup(OUTPUT)
    .requiredOption('--out <file>', 'TorchScript file to write (e.g. model.pt)')
    .addOption(deviceOption())
    .addOption(nondeterministicOption())
    .action(async (o: { model: string; out: string; device: string; nondeterministic?: boolean }) => {
      // the file holds host copies of the weights, wherever the model was loaded
      const { model } = loadModel(o.model, { device: useDevice(o) });
      try {
        model.eval();
        mkdirSync(dirname(o.out), { recursive: true });
        // written beside the destination and renamed: a failed export leaves an earlier file whole
        await withOutputLock(o.out, 'sauron export', () => {
          const tmp = join(dirname(o.out), `.${basename(o.out)}.${process.pid}.tmp`);
          try {
            exportTorchScript(model, tmp);
            renameSync(tmp, o.out);
          } finally {
            rmSync(tmp, { force: true });
          }
        });
        console.log(
          JSON.stringify({ out: o.out, arch: model.config.arch, inputShape: model.config.inputShape, featureDim: model.featureDim }),
        );
      } finally {
        model.dispose();
      }
    });
}
