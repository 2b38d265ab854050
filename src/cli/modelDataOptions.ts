import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ImageDataset } from '../data/dataset.js';
import { DATASETS, openDataset } from '../data/registry.js';
import type { Device } from '../tensor/device.js';
import { deviceOption, imageShape, nondeterministicOption, positiveInt, useDevice } from './options.js';
import { DATA, inGroup, MODEL } from './helpGroups.js';
import type { ImageClassifier } from '../models/classifier.js';
import { isRunFolder, loadAnyModel, type AnyModelOptions } from '../models/load.js';
import { TorchScriptClassifier, type TorchScriptSettings } from '../models/torchscript.js';
import { readManifest, type ModelManifest } from '../models/runFolder.js';

/** A clear error when a data set's images or classes do not fit the model. */
export function checkDatasetFits(model: ImageClassifier, ds: ImageDataset): void {
  const want = model.config.inputShape.join('x');
  const got = ds.imageShape.join('x');
  if (want !== got) throw new Error(`the model expects ${want} images, ${ds.name} ${ds.split} has ${got}`);
  if (model.numClasses !== ds.classNames.length) {
    const hint =
      ds.name === 'imagenet'
        ? " (a folder with some of the model's classes: pass --classes FILE listing all of them in order, or --classes imagenet)"
        : '';
    throw new Error(`the model has ${model.numClasses} classes, ${ds.name} has ${ds.classNames.length}${hint}`);
  }
}

/** Image folders: the classes a run folder's model was trained on label a folder holding some of them. */
function recordedClasses(name: string, modelPath: string): { source: string; names: string[] } | undefined {
  if (name !== 'imagenet' || !isRunFolder(modelPath)) return undefined;
  const names = readManifest(modelPath).classNames;
  return names ? { source: `${modelPath}/model.json`, names } : undefined;
}

/** Image folders: a model that recorded its class names must meet the same names at the same labels. */
function checkClassNames(manifest: Partial<ModelManifest>, ds: ImageDataset): void {
  const names = manifest.classNames;
  if (ds.name !== 'imagenet' || !Array.isArray(names) || names.length !== ds.classNames.length) return;
  const k = names.findIndex((n, i) => n !== ds.classNames[i]);
  if (k >= 0) {
    throw new Error(
      `class ${k} of the model is '${names[k]}', of ${ds.name} '${ds.classNames[k]}': ` +
        "pass --classes FILE listing the model's classes in its order",
    );
  }
}

/** The data set a run folder's model was trained on (undefined for TorchScript files). */
export function datasetOf(modelPath: string): string | undefined {
  if (!isRunFolder(modelPath)) return undefined;
  return readManifest(modelPath).dataset as string | undefined;
}

export const TORCHSCRIPT_HELP = {
  featuresLayer:
    'TorchScript files whose forward returns logits only: the submodule whose output is the features, ' +
    'a dotted path at any depth (e.g. net.avgpool, layer4.1), called once by forward, outside if/loops',
  classifierParam: 'TorchScript files: name of the classifier weight (default: the last 2-d [classes, features] parameter)',
  mean:
    'TorchScript files that expect normalised images: per-channel mean, e.g. 0.485,0.456,0.406 (images stay in ' +
    '[0, 1] for the attacks and budgets; Sauron normalises them before the module)',
  std: 'TorchScript files: per-channel std, with --mean',
  input: "TorchScript files: the image shape CxHxW the model takes (default: the data set's)",
};

/** "0.5,0.5,0.5" -> [0.5, 0.5, 0.5]. */
function numberList(name: string) {
  return (v: string): number[] => {
    const xs = v.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    if (xs.some((x) => !Number.isFinite(x)))
      throw new InvalidArgumentError(`${name} must be a comma-separated list of numbers, got '${v}'`);
    return xs;
  };
}

/** The TorchScript options of a command, as loadAnyModel takes them. */
export function torchScriptOptions(o: ModelDataCli): Pick<AnyModelOptions, 'featuresLayer' | 'classifierParam' | 'normalization'> {
  if (!!o.mean !== !!o.std) throw new Error('--mean and --std go together');
  return {
    featuresLayer: o.featuresLayer,
    classifierParam: o.classifierParam,
    normalization: o.mean ? { mean: o.mean, std: o.std! } : undefined,
  };
}

/** What a TorchScript model was opened with (features layer, classifier, mean/std, shape), for a command's records. */
export function torchScriptRecord(model: ImageClassifier): { torchscript?: TorchScriptSettings } {
  return model instanceof TorchScriptClassifier ? { torchscript: model.settings } : {};
}

/** The options of every command that runs a model over (part of) a data set. */
export interface ModelDataCli {
  model: string;
  featuresLayer?: string;
  classifierParam?: string;
  mean?: number[];
  std?: number[];
  input?: [number, number, number];
  dataset?: string;
  data?: string;
  classes?: string;
  split: 'train' | 'test';
  limit?: number;
  indices?: string;
  device: string;
  nondeterministic?: boolean;
}

/**
 * Adds the model options (--model, TorchScript's --features-layer/--classifier-param/--mean/--std/
 * --input), the data options (--dataset, --data, --classes, --split, --limit, --indices), each
 * under its help group, and --device, --nondeterministic. `role` ends the --model help
 * ("to attack"); `items` names the rows ("inputs", "samples").
 */
export function modelDataOptions(cmd: Command, role: string, items: string): Command {
  inGroup(cmd, MODEL, (c) =>
    c
      .requiredOption('--model <run>', `run folder of the model${role ? ` ${role}` : ''}, or a TorchScript file`)
      .option('--features-layer <name>', TORCHSCRIPT_HELP.featuresLayer)
      .option('--classifier-param <name>', TORCHSCRIPT_HELP.classifierParam)
      .option('--mean <list>', TORCHSCRIPT_HELP.mean, numberList('--mean'))
      .option('--std <list>', TORCHSCRIPT_HELP.std, numberList('--std'))
      .option('--input <CxHxW>', TORCHSCRIPT_HELP.input, imageShape),
  );
  inGroup(cmd, DATA, (c) =>
    c
      .addOption(new Option('--dataset <name>', 'data set (default: the one the model was trained on)').choices([...DATASETS]))
      .option('--data <dir>', 'folder with the data set (cifar10, imagenet)')
      .option(
        '--classes <file>',
        "image folders: the model's classes in order, one folder name a line (imagenet: the shipped " +
          '1000 ImageNet classes); a folder holding some of them is then evaluated against the whole model',
      )
      .addOption(new Option('--split <split>', `${items} to use`).choices(['train', 'test']).default('test'))
      .option('--limit <n>', `first N ${items} only`, positiveInt('--limit'))
      .option('--indices <list>', `these ${items} only, e.g. 0,5,10-19`),
  );
  return cmd.addOption(deviceOption()).addOption(nondeterministicOption());
}

/** The data set's name, its selected rows, the model on the chosen device, checked to fit. */
export async function openModelData(
  o: ModelDataCli,
  modelPath = o.model,
): Promise<{ name: string; ds: ImageDataset; model: ImageClassifier; manifest: Partial<ModelManifest>; device: Device }> {
  const device = useDevice(o);
  const name = o.dataset ?? datasetOf(modelPath) ?? 'fashion-mnist';
  const ds = await openDataset(name, o.split, {
    data: o.data,
    classes: o.classes ?? recordedClasses(name, modelPath),
    limit: o.limit,
    indices: o.indices,
  });
  const { model, manifest } = loadAnyModel(modelPath, { inputShape: o.input ?? ds.imageShape, ...torchScriptOptions(o), device });
  try {
    checkDatasetFits(model, ds);
    checkClassNames(manifest, ds);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { name, ds, model, manifest, device };
}

/**
 * What every `sauron attack` run opens: the model and data set (openModelData), the transfer
 * target of --target-model on the same device, checked to fit, and the meta results.json
 * records first. The caller disposes `model` and `target`.
 */
export async function openAttackModels(o: ModelDataCli & { targetModel?: string }) {
  const opened = await openModelData(o);
  const { name, ds, model, device } = opened;
  let target: ImageClassifier | undefined;
  try {
    target = o.targetModel ? loadAnyModel(o.targetModel, { inputShape: ds.imageShape, device }).model : undefined;
    if (target) checkDatasetFits(target, ds);
  } catch (e) {
    model.dispose();
    target?.dispose();
    throw e;
  }
  const meta = {
    model: o.model,
    ...torchScriptRecord(model),
    targetModel: o.targetModel,
    dataset: name,
    classes: o.classes,
    split: o.split,
    limit: o.limit,
    indices: o.indices,
  };
  return { ...opened, target, meta };
}
