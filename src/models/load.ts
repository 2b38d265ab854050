// Opening any model a command is given: a Sauron run folder or a TorchScript file.
import { existsSync, statSync } from 'node:fs';
import { loadModel, type ModelManifest } from './runFolder.js';
import type { ImageClassifier, Normalization } from './classifier.js';
import type { Device } from '../tensor/deviceState.js';
import { TorchScriptClassifier } from './torchscript.js';

/** Options of {@link loadAnyModel}; all but `device` apply to TorchScript files only. */
export interface AnyModelOptions {
  /** Image shape for TorchScript files (run folders record their own). */
  inputShape?: [number, number, number];
  featuresLayer?: string;
  classifierParam?: string;
  /** TorchScript files that expect normalised images: applied before the module. */
  normalization?: Normalization;
  device?: Device;
}

/** Whether `path` is a folder (a run folder), as opposed to a TorchScript file. */
export function isRunFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/**
 * Loads a model from a Sauron run folder or a TorchScript file (with its `inputShape`), as every command's `--model` does.
 *
 * @example
 * ```ts
 * const { model } = loadAnyModel('resnet18.pt', { inputShape: [3, 32, 32], normalization: { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] } });
 * ```
 */
export function loadAnyModel(path: string, o: AnyModelOptions = {}): { model: ImageClassifier; manifest: Partial<ModelManifest> } {
  if (!existsSync(path)) throw new Error(`${path} does not exist (expected a Sauron run folder or a TorchScript file)`);
  if (isRunFolder(path)) {
    if (o.featuresLayer || o.classifierParam || o.normalization) {
      throw new Error(
        '--features-layer, --classifier-param, --mean and --std apply to TorchScript files only (a run folder records its own)',
      );
    }
    return loadModel(path, { device: o.device });
  }
  if (!o.inputShape) throw new Error(`${path}: the input shape of a TorchScript model comes from the data set; pass --dataset or --input`);
  const n = o.normalization;
  if (n && (n.mean.length !== o.inputShape[0] || n.std.length !== o.inputShape[0])) {
    throw new Error(
      `--mean and --std need one value per channel (${o.inputShape[0]} for ${o.inputShape.join('x')} images), got ${n.mean.length} and ${n.std.length}`,
    );
  }
  if (n?.std.some((s) => !(s > 0))) throw new Error(`--std must be positive, got ${n.std.join(',')}`);
  const model = new TorchScriptClassifier(path, {
    inputShape: o.inputShape,
    featuresLayer: o.featuresLayer,
    classifierParam: o.classifierParam,
    normalization: o.normalization,
    device: o.device,
  });
  return {
    model,
    manifest: { arch: 'torchscript', featureDim: model.featureDim, numClasses: model.numClasses, torchscript: model.settings },
  };
}
