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
import { addProcessGroupOptions, joinProcessGroup, positiveInt, useDevice } from './options.js';
import { fromRoot } from '../tensor/collectives.js';
import { lockOutput } from '../serialization/outputDir.js';
import { ProgressBar } from './progressDisplay.js';
import { DATA, OUTPUT } from './helpGroups.js';
import {
  datasetOf,
  modelDataOptions,
  openModelData,
  torchScriptOptions,
  torchScriptRecord,
  type ModelDataCli,
} from './modelDataOptions.js';

interface EvalCli extends ModelDataCli {
  inputs?: string;
  labels?: string;
  out?: string;
  batchSize: number;
  backend: string;
  distTimeout: number;
}

export function evalCommand(): Command {
  return addProcessGroupOptions(
    modelDataOptions(
      new Command('eval')
        .summary('Accuracy of a model on a data set, or its predictions for given images')
        .description(
          'Accuracy of a model on a data set (overall and per class), or predictions for given images. ' +
            'Prints one JSON object; with --out also writes it (eval.json) and, for --inputs, predictions.npy. ' +
            'Started as several ranks, the ranks take turns at the batches and rank 0 reports and writes.',
        ),
      '',
      'samples',
    ),
  )
    .optionsGroup(DATA)
    .option('--inputs <x.npy>', 'evaluate these images (float32 [N, C, H, W] in [0, 1]) instead of a data set')
    .option('--labels <y.npy>', 'labels of --inputs (int64 [N]) to report accuracy')
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'), 256)
    .optionsGroup(OUTPUT)
    .option('--out <dir>', 'folder to write results into')
    .action(async (o: EvalCli) => {
      const group = joinProcessGroup(o);
      try {
        await evalAction(o, group.rank === 0, group.worldSize);
      } finally {
        group.leave();
      }
    });
}

async function evalAction(o: EvalCli, lead: boolean, world: number): Promise<void> {
  if (o.inputs && world > 1) throw new Error('--inputs runs in one process (launch it without several ranks)');
  const { name, ds, model } = o.inputs ? await openForInputs(o) : await openModelData(o);
  // the folder's lock first: if rank 0 cannot have it, the others hear why instead of waiting
  const shared = o.out && world > 1 ? await fromRoot(() => lockOutput(o.out!, `sauron ${process.argv.slice(2).join(' ')}`)) : null;
  const lock = lead ? shared : null;
  try {
    let result: Record<string, unknown>;
    let predictions: BigInt64Array | null = null;
    if (o.inputs) {
      result = scope(() => {
        const x = loadNpy(o.inputs!);
        if (x.numel() === 0) throw new Error(`${o.inputs}: shape: expected at least one image, got (${x.shape.join(', ')})`);
        const pred = predict(model, x, o.batchSize);
        const r: Record<string, unknown> = { model: o.model, ...torchScriptRecord(model), inputs: o.inputs, count: pred.numel() };
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
      if (lead) bar.start(`eval ${name} ${o.split}`);
      const ev = await evaluate(model, ds!, {
        batchSize: o.batchSize,
        acrossRanks: world > 1,
        onProgress: (p) => lead && bar.update(p.done, p.total, p.stats),
      });
      bar.finish();
      if (!lead) return;
      result = {
        model: o.model,
        ...torchScriptRecord(model),
        dataset: name,
        split: o.split,
        count: ev.count,
        accuracy: ev.accuracy,
        loss: ev.loss,
        perClass: ev.perClass,
      };
    }
    if (o.out) {
      // eval.json and predictions.npy of one run, swapped in together
      const settings = {
        model: o.model,
        dataset: o.inputs ? undefined : name,
        data: o.data,
        classes: o.classes,
        split: o.split,
        limit: o.limit,
        indices: o.indices,
        inputs: o.inputs,
        labels: o.labels,
        ...torchScriptRecord(model),
      };
      await writeOutput(o.out, { kind: 'eval', command: `sauron ${process.argv.slice(2).join(' ')}`, settings }, (dir) => {
        if (predictions) saveNpyArray(join(dir, 'predictions.npy'), predictions, [predictions.length], 'int64');
        writeFileAtomic(join(dir, 'eval.json'), `${JSON.stringify(result, null, 2)}\n`);
      });
    }
    console.log(JSON.stringify(result));
  } finally {
    model.dispose();
    lock?.release();
  }
}

/** --inputs: the model alone; the data set (default the model's own) gives the image shape. */
async function openForInputs(o: EvalCli): Promise<{ name: string; ds: null; model: ImageClassifier }> {
  const device = useDevice(o);
  const name = o.dataset ?? datasetOf(o.model) ?? 'fashion-mnist';
  const shape = o.input ?? (await openDataset(name, 'test', { data: o.data, limit: 1 })).imageShape;
  const { model } = loadAnyModel(o.model, { inputShape: shape, ...torchScriptOptions(o), device });
  return { name, ds: null, model };
}
