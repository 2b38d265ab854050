import { Command, Option } from 'commander';
import { ARCHITECTURES } from '../models/zoo.js';
import { convertCheckpoint } from '../models/convert.js';
import { saveModel } from '../models/runFolder.js';
import { writeOutput } from '../serialization/outputDir.js';
import { DATASETS } from '../data/registry.js';
import { deviceOption, imageShape, nondeterministicOption, useDevice } from './options.js';
import { DATA, MODEL, OUTPUT } from './helpGroups.js';

function numbers(name: string) {
  return (v: string): number[] => {
    const xs = v.split(',').map(Number);
    if (!xs.length || xs.some((x) => !Number.isFinite(x))) throw new Error(`${name} must be a comma-separated list of numbers, got '${v}'`);
    return xs;
  };
}

export function convertCommand(): Command {
  return new Command('convert')
    .summary('Turn a PyTorch state dict of a zoo architecture into a Sauron run folder')
    .description(
      'Turn a PyTorch state dict (torch.save file) of a zoo architecture into a Sauron run folder. The file is ' +
        'read as data (tensors, dicts, lists, numbers; never Python code): a bare state dict or a training checkpoint holding ' +
        "one. Understands torchvision's names, DataParallel's module. prefix, the robustness library's checkpoints " +
        "(module.model. / module.attacker.model. prefixes and normalizer buffers, as the paper's robust models) and " +
        "Sauron's own keys.",
    )
    .optionsGroup(MODEL)
    .requiredOption('--from <file>', 'the .pt / .pth checkpoint')
    .option(
      '--key <name>',
      "the checkpoint's entry that holds the state dict (default: the one of model, state_dict, model_state_dict, net)",
    )
    .requiredOption('--arch <name>', `architecture (${ARCHITECTURES.join(', ')})`)
    .option('--input <CxHxW>', 'image shape (default 3x32x32, 3x224x224 for -imagenet, 1x28x28 for small-cnn)', imageShape)
    .option(
      '--mean <list>',
      "per-channel mean the model normalises with (default: the checkpoint's, ImageNet's, or none)",
      numbers('--mean'),
    )
    .option('--std <list>', 'per-channel std', numbers('--std'))
    .optionsGroup(DATA)
    .addOption(new Option('--dataset <name>', 'data set the model belongs to (recorded for later commands)').choices([...DATASETS]))
    .optionsGroup(OUTPUT)
    .requiredOption('--out <dir>', 'run folder to write')
    .addOption(deviceOption())
    .addOption(nondeterministicOption())
    .action(
      async (o: {
        from: string;
        key?: string;
        arch: string;
        input?: [number, number, number];
        mean?: number[];
        std?: number[];
        dataset?: string;
        out: string;
        device: string;
        nondeterministic?: boolean;
      }) => {
        if (!ARCHITECTURES.includes(o.arch)) throw new Error(`unknown architecture '${o.arch}' (available: ${ARCHITECTURES.join(', ')})`);
        if (!!o.mean !== !!o.std) throw new Error('--mean and --std go together');
        const model = convertCheckpoint(o.from, {
          arch: o.arch,
          inputShape: o.input,
          normalization: o.mean ? { mean: o.mean, std: o.std! } : undefined,
          device: useDevice(o),
          key: o.key,
          onNote: (line) => console.error(`sauron: ${line}`),
        });
        try {
          await writeOutput(o.out, { kind: 'convert', command: `sauron ${process.argv.slice(2).join(' ')}`, settings: { ...o } }, (out) =>
            saveModel(out, model, { dataset: o.dataset, convertedFrom: o.from }),
          );
          console.log(
            JSON.stringify({
              out: o.out,
              arch: o.arch,
              classes: model.numClasses,
              featureDim: model.featureDim,
              width: model.config.width,
            }),
          );
        } finally {
          model.dispose();
        }
      },
    );
}
