import { Option, type Command } from 'commander';
import type { ImageDataset } from '../data/dataset.js';
import { DATASETS, openDataset, parseIndices } from '../data/registry.js';
import type { Device } from '../tensor/device.js';
import { deviceOption, nondeterministicOption, positiveInt, useDevice } from './options.js';
import type { ImageClassifier } from '../models/classifier.js';
import { isRunFolder, loadAnyModel } from '../models/load.js';
import { readManifest, type ModelManifest } from '../models/runFolder.js';

/** A clear error when a data set's images or classes do not fit the model. */
export function checkDatasetFits(model: ImageClassifier, ds: ImageDataset): void {
  const want = model.config.inputShape.join('x');
  const got = ds.imageShape.join('x');
  if (want !== got) throw new Error(`the model expects ${want} images, ${ds.name} ${ds.split} has ${got}`);
  if (model.numClasses !== ds.classNames.length) {
    throw new Error(`the model has ${model.numClasses} classes, ${ds.name} has ${ds.classNames.length}`);
  }
}

/** The data set a run folder's model was trained on (undefined for TorchScript files). */
export function datasetOf(modelPath: string): string | undefined {
  if (!isRunFolder(modelPath)) return undefined;
  return readManifest(modelPath).dataset as string | undefined;
}

export const TORCHSCRIPT_HELP = {
  featuresLayer: 'TorchScript files whose forward returns logits only: the submodule whose output is the features',
  classifierParam: 'TorchScript files: name of the classifier weight (default: the last 2-d [classes, features] parameter)',
};

/** The options of every command that runs a model over (part of) a data set. */
export interface ModelDataCli {
  model: string;
  featuresLayer?: string;
  classifierParam?: string;
  dataset?: string;
  data?: string;
  split: 'train' | 'test';
  limit?: number;
  indices?: string;
  device: string;
  nondeterministic?: boolean;
}

/**
 * Adds the model + data options (--model, TorchScript's --features-layer/--classifier-param,
 * --dataset, --data, --split, --limit, --indices, --device, --nondeterministic). `role` ends
 * the --model help ("to attack"); `items` names the rows ("inputs", "samples").
 */
export function modelDataOptions(cmd: Command, role: string, items: string): Command {
  return cmd
    .requiredOption('--model <run>', `run folder of the model${role ? ` ${role}` : ''}, or a TorchScript file`)
    .option('--features-layer <name>', TORCHSCRIPT_HELP.featuresLayer)
    .option('--classifier-param <name>', TORCHSCRIPT_HELP.classifierParam)
    .addOption(new Option('--dataset <name>', 'data set (default: the one the model was trained on)').choices([...DATASETS]))
    .option('--data <dir>', 'folder with the data set (cifar10, imagenet)')
    .addOption(new Option('--split <split>', `${items} to use`).choices(['train', 'test']).default('test'))
    .option('--limit <n>', `first N ${items} only`, positiveInt('--limit'))
    .option('--indices <list>', `these ${items} only, e.g. 0,5,10-19`)
    .addOption(deviceOption())
    .addOption(nondeterministicOption());
}

/** The data set's name, its selected rows, the model on the chosen device, checked to fit. */
export async function openModelData(o: ModelDataCli, modelPath = o.model): Promise<{ name: string; ds: ImageDataset; model: ImageClassifier; manifest: Partial<ModelManifest>; device: Device }> {
  const device = useDevice(o);
  const name = o.dataset ?? datasetOf(modelPath) ?? 'fashion-mnist';
  const ds = await openDataset(name, o.split, { data: o.data, limit: o.limit, indices: o.indices ? parseIndices(o.indices) : undefined });
  const { model, manifest } = loadAnyModel(modelPath, { inputShape: ds.imageShape, featuresLayer: o.featuresLayer, classifierParam: o.classifierParam, device });
  try {
    checkDatasetFits(model, ds);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { name, ds, model, manifest, device };
}
