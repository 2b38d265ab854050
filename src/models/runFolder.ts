// A model on disk: `model.safetensors` (state dict, PyTorch keys) + `model.json` (manifest).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { scope } from '../tensor/scope.js';
import { withDefaultDevice } from '../tensor/deviceState.js';
import type { ModelOptions } from './zoo.js';
import type { ImageClassifier, ModelConfig, Normalization } from './classifier.js';
import { createModel } from './zoo.js';
import { libtorchVersion } from '../tensor/runtime.js';
import { builtWithCuda } from '../tensor/device.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { loadSafetensors, saveSafetensors } from '../serialization/safetensors.js';
import { readJsonFile } from '../serialization/schema.js';
import { ManifestSchema } from './manifestSchema.js';

/** A run folder's manifest: the model's architecture and settings. */
export const MANIFEST_FILE = 'model.json';
/** A run folder's weights, with PyTorch's state-dict keys. */
export const WEIGHTS_FILE = 'model.safetensors';

/** What model.json holds: everything needed to rebuild the model, plus what commands record. */
export interface ModelManifest {
  format: 'sauron-model';
  version: 1;
  arch: string;
  inputShape: [number, number, number];
  numClasses: number;
  width: number;
  /** null: the model takes images as they are (the identity). */
  normalization: Normalization | null;
  featureDim: number;
  /** false: built without batch norm (small-cnn, VGG); absent otherwise. */
  batchNorm?: false;
  classNames?: string[];
  /** Free-form extra fields (data set, training config, metrics) written by commands. */
  [key: string]: unknown;
}

export function manifestOf(model: ImageClassifier, extra: Record<string, unknown> = {}): ModelManifest {
  const c = model.config;
  return {
    format: 'sauron-model',
    version: 1,
    arch: c.arch,
    inputShape: c.inputShape,
    numClasses: c.numClasses,
    width: c.width,
    normalization: c.normalization,
    ...(c.batchNorm === false ? { batchNorm: false as const } : {}),
    featureDim: model.featureDim,
    libtorch: libtorchVersion,
    libtorchCuda: builtWithCuda,
    ...extra,
  };
}

/**
 * Saves a zoo model as a run folder: model.safetensors (PyTorch keys) and model.json (the manifest plus `extra`).
 *
 * @example
 * ```ts
 * saveModel('runs/mine', model, { dataset: 'fashion-mnist' });
 * const { model: again } = loadModel('runs/mine');
 * ```
 */
export function saveModel(dir: string, model: ImageClassifier, extra: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  saveSafetensors(join(dir, WEIGHTS_FILE), model.stateDict(), { format: 'pt', arch: model.config.arch });
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifestOf(model, extra), null, 2)}\n`);
}

/** The run folder's manifest, checked field by field (one line naming the field otherwise). */
export function readManifest(dir: string): ModelManifest {
  const p = join(dir, MANIFEST_FILE);
  if (!existsSync(p)) throw new Error(`${dir} is not a Sauron model folder: ${MANIFEST_FILE} is missing`);
  return readJsonFile(p, ManifestSchema) as ModelManifest;
}

/**
 * Builds the architecture the manifest names and loads its weights.
 *
 * @example
 * ```ts
 * const { model, manifest } = loadModel('runs/fm-standard'); // model.safetensors + model.json
 * manifest.arch; // 'small-cnn'
 * ```
 */
export function loadModel(dir: string, init: ModelOptions = {}): { model: ImageClassifier; manifest: ModelManifest } {
  const manifest = readManifest(dir);
  const config: ModelConfig = {
    arch: manifest.arch,
    inputShape: manifest.inputShape,
    numClasses: manifest.numClasses,
    width: manifest.width,
    ...(manifest.normalization ? { normalization: manifest.normalization } : {}),
    ...(manifest.batchNorm === false ? { batchNorm: false } : {}),
  };
  const model = createModel(config, init);
  try {
    scope(() => {
      // Weights are read to the host and copied to wherever the model lives.
      const { tensors } = withDefaultDevice('cpu', () => loadSafetensors(join(dir, WEIGHTS_FILE)));
      model.loadStateDict(tensors);
    });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, manifest };
}
