// Opening any model a command is given: a Sauron run folder or a TorchScript file.
import { existsSync, statSync } from 'node:fs';
import { loadModel, type ModelManifest } from './runFolder.js';
import type { ImageClassifier } from './classifier.js';
import type { Device } from '../tensor/deviceState.js';
import { TorchScriptClassifier } from './torchscript.js';

export interface AnyModelOptions {
  /** Image shape for TorchScript files (run folders record their own). */
  inputShape?: [number, number, number];
  featuresLayer?: string;
  classifierParam?: string;
  device?: Device;
}

export function isRunFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

export function loadAnyModel(path: string, o: AnyModelOptions = {}): { model: ImageClassifier; manifest: Partial<ModelManifest> } {
  if (!existsSync(path)) throw new Error(`${path} does not exist (expected a Sauron run folder or a TorchScript file)`);
  if (isRunFolder(path)) {
    if (o.featuresLayer || o.classifierParam) throw new Error('--features-layer and --classifier-param apply to TorchScript files only');
    return loadModel(path, { device: o.device });
  }
  if (!o.inputShape) throw new Error(`${path}: the input shape of a TorchScript model comes from the data set; pass --dataset`);
  const model = new TorchScriptClassifier(path, { inputShape: o.inputShape, featuresLayer: o.featuresLayer, classifierParam: o.classifierParam, device: o.device });
  return { model, manifest: { arch: 'torchscript', featureDim: model.featureDim, numClasses: model.numClasses } };
}
