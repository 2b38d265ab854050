import { join } from 'node:path';
import { Command } from 'commander';
import { openDataset } from '../data/registry.js';
import type { ImageClassifier } from '../models/classifier.js';
import { loadAnyModel } from '../models/load.js';
import { loadNpy, saveNpyArray } from '../serialization/npy.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { writeOutput } from '../serialization/outputDir.js';
import { evaluate } from '../training/evaluate.js';
import { predict } from '../training/evaluateInputs.js';
import { scope } from '../tensor/scope.js';
import { positiveInt, useDevice } from './options.js';
import { ProgressBar } from './progress.js';
import { datasetOf, modelDataOptions, openModelData, type ModelDataCli } from './modelData.js';

interface EvalCli extends ModelDataCli {
  inputs?: string; labels?: string; out?: string; batchSize: number;
}

export function evalCommand(): Command {
  return modelDataOptions(new Command('eval')
    .description('Accuracy of a model on a data set (overall and per class), or predictions for given images.\n' +
      'Prints one JSON object; with --out also writes it (eval.json) and, for --inputs, predictions.npy.'), '', 'samples')
    .option('--inputs <x.npy>', 'evaluate these images (float32 [N, C, H, W] in [0, 1]) instead of a data set')
    .option('--labels <y.npy>', 'labels of --inputs (int64 [N]) to report accuracy')
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'), 256)
    .option('--out <dir>', 'folder to write results into')
    .action(async (o: EvalCli) => {
      const { name, ds, model } = o.inputs ? await openForInputs(o) : await openModelData(o);
      try {
        let result: Record<string, unknown>;
        let predictions: BigInt64Array | null = null;
        if (o.inputs) {
          result = scope(() => {
            const x = loadNpy(o.inputs!);
            const pred = predict(model, x, o.batchSize);
            const r: Record<string, unknown> = { model: o.model, inputs: o.inputs, count: pred.numel() };
            if (o.labels) {
              const y = loadNpy(o.labels);
              if (y.dtype !== 'int64' || y.numel() !== pred.numel()) {
                throw new Error(`--labels must be int64 with one label per input (${pred.numel()}), got ${y.dtype} [${y.shape.join(', ')}]`);
              }
              r.accuracy = pred.eq(y).float().mean().item();
            }
            if (o.out) predictions = pred.toArray<'int64'>();
            return r;
          });
        } else {
          const bar = new ProgressBar();
          bar.start(`eval ${name} ${o.split}`);
          const ev = await evaluate(model, ds!, { batchSize: o.batchSize, onProgress: (p) => bar.update(p.done, p.total, p.stats) });
          bar.finish();
          result = { model: o.model, dataset: name, split: o.split, count: ev.count, accuracy: ev.accuracy, loss: ev.loss, perClass: ev.perClass };
        }
        if (o.out) {
          // eval.json and predictions.npy of one run, swapped in together
          await writeOutput(o.out, { kind: 'eval', command: `sauron ${process.argv.slice(2).join(' ')}` }, (dir) => {
            if (predictions) saveNpyArray(join(dir, 'predictions.npy'), predictions, [predictions.length], 'int64');
            writeFileAtomic(join(dir, 'eval.json'), JSON.stringify(result, null, 2) + '\n');
          });
        }
        console.log(JSON.stringify(result));
      } finally {
        model.dispose();
      }
    });
}

/** --inputs: the model alone; the data set (default the model's own) gives the image shape. */
async function openForInputs(o: EvalCli): Promise<{ name: string; ds: null; model: ImageClassifier }> {
  const device = useDevice(o);
  const name = o.dataset ?? datasetOf(o.model) ?? 'fashion-mnist';
  const shape = (await openDataset(name, 'test', { data: o.data, limit: 1 })).imageShape;
  const { model } = loadAnyModel(o.model, { inputShape: shape, featuresLayer: o.featuresLayer, classifierParam: o.classifierParam, device });
  return { name, ds: null, model };
}
