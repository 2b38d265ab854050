// PyTorch state dicts (torch.save files, read by src/serialization's allowlist reader, never
// by Python's pickle) of the zoo's architectures, bare or inside a training checkpoint, from
// the common layouts: torchvision (final layer `fc`, `downsample`), DataParallel (`module.`),
// the robustness library used by the paper (`module.model.` / `module.attacker.model.`
// prefixes, `normalizer` buffers, final layer `linear` for ResNets) and Sauron's own keys.
import { constants } from 'node:buffer';
import { readRegularFile } from '../serialization/regularFile.js';
import { describePy, forEachTensor, readTorchCheckpoint, TorchTensor } from '../serialization/torchCheckpoint.js';
import type { Tensor } from '../tensor/tensor.js';
import { scope } from '../tensor/scope.js';
import { createModel } from './zoo.js';
import type { Device } from '../tensor/deviceState.js';
import type { ImageClassifier, Normalization } from './classifier.js';

/**
 * Options of {@link convertCheckpoint}: the zoo architecture the checkpoint's state dict belongs to, and how to read it.
 */
export interface ConvertOptions {
  arch: string;
  /** [C, H, W]; default per architecture family (CIFAR 3x32x32, ImageNet 3x224x224, small-cnn 1x28x28). */
  inputShape?: [number, number, number];
  /** Overrides the normalisation found in the checkpoint (robustness' normalizer buffers). */
  normalization?: Normalization;
  /** Where the converted model lives (the checkpoint is read on the host). */
  device?: Device;
  /** The top-level entry of a training checkpoint that holds the state dict; without it, the
   * one of 'model', 'state_dict', 'model_state_dict', 'net' that holds tensors. */
  key?: string;
  /** Receives what the reader chose or changed (the entry read, dtype conversions). */
  onNote?: (line: string) => void;
}

const IMAGENET_NORMALIZATION = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const STATE_DICT_KEYS = ['model', 'state_dict', 'model_state_dict', 'net'];
// the whole file is read into one Buffer
const MAX_CHECKPOINT_BYTES = constants.MAX_LENGTH - 1;

function readCheckpoint(path: string): unknown {
  const data = readRegularFile(path, MAX_CHECKPOINT_BYTES);
  try {
    return readTorchCheckpoint(data);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

function hasTensors(v: unknown): boolean {
  let found = false;
  forEachTensor(v, () => {
    found = true;
  });
  return found;
}

/**
 * The state dict inside a checkpoint: the entry `key` names; else the object itself when it
 * holds tensors at its top level; else the one usual entry ('model', 'state_dict', ...) that
 * holds tensors. Errors name the top-level keys.
 */
export function pickStateDict(root: unknown, path: string, key?: string, onNote?: (line: string) => void): unknown {
  const top = root instanceof Map ? root : null;
  const keys = top ? [...top.keys()].map((k) => (typeof k === 'string' ? `'${k}'` : String(k))).join(', ') || 'none' : '';
  const what = top ? `its top-level keys: ${keys}` : `it holds ${describePy(root)}`;
  const pick = (k: string): unknown => {
    onNote?.(`reading the state dict under '${k}'`);
    return top!.get(k);
  };
  if (key !== undefined) {
    if (!top?.has(key)) throw new Error(`${path} has no top-level entry '${key}' (${what})`);
    if (!hasTensors(top.get(key))) throw new Error(`${path}: '${key}' holds ${describePy(top.get(key))} and no tensors (${what})`);
    return pick(key);
  }
  if (top && [...top.values()].some((v) => v instanceof TorchTensor)) return root;
  const found = top ? STATE_DICT_KEYS.filter((k) => top.has(k) && hasTensors(top.get(k))) : [];
  if (found.length === 1) return pick(found[0]!);
  if (found.length > 1) throw new Error(`${path} holds several state dicts (${found.join(', ')}): choose one with --key`);
  throw new Error(`${path} has no state dict (${what}): name the entry that holds the weights with --key`);
}

/** Reads the tensors under `value` into host tensors keyed by their path; float16, bfloat16 and
 * float64 become float32 (the zoo's type), which onNote hears once per type. */
function loadTensors(value: unknown, path: string, onNote?: (line: string) => void): Map<string, Tensor> {
  const refs = new Map<string, TorchTensor>();
  forEachTensor(value, (k, t) => refs.set(k, t));
  const converted = new Map<string, number>();
  const out = new Map<string, Tensor>();
  try {
    for (const [k, t] of refs) {
      if (t.dtype === 'float16' || t.dtype === 'bfloat16' || t.dtype === 'float64')
        converted.set(t.dtype, (converted.get(t.dtype) ?? 0) + 1);
      try {
        out.set(k, t.load());
      } catch (e) {
        throw new Error(`${path}: tensor '${k}': ${(e as Error).message}`);
      }
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  for (const [d, n] of converted) onNote?.(`converted ${n} ${d} tensor${n === 1 ? '' : 's'} to float32`);
  return out;
}

/** Reads the tensors of a torch.save file, keyed by their path in the saved object (dict keys
 * and list indices joined by '.'); host tensors, the caller disposes them. */
export function readTorchFile(path: string): Map<string, Tensor> {
  return loadTensors(readCheckpoint(path), path);
}

/** Maps a state dict's keys (DataParallel's `module.`, a wrapper's `model.`, torchvision's and the
 * robustness library's names) to Sauron's; returns the state dict and any normaliser found. */
export function mapKeys(raw: Map<string, Tensor>): { state: Map<string, Tensor>; normalization: Normalization | null } {
  const state = new Map<string, Tensor>();
  let mean: number[] | null = null;
  let std: number[] | null = null;
  for (const [k0, t] of raw) {
    let k = k0;
    if (/^(module\.)?attacker\./.test(k)) continue; // the attacker holds a second copy
    const norm = /^(module\.)?normalizer\.new_(mean|std)$/.exec(k);
    if (norm) {
      const v = t.toNumbers();
      if (norm[2] === 'mean') mean = v;
      else std = v;
      continue;
    }
    k = k
      .replace(/^module\.model\./, '')
      .replace(/^module\./, '')
      .replace(/^model\./, '');
    k = k.replace(/^(fc|linear)\./, 'classifier.');
    state.set(k, t);
  }
  return { state, normalization: mean && std ? { mean, std } : null };
}

function defaultShape(arch: string): [number, number, number] {
  if (arch === 'small-cnn') return [1, 28, 28];
  return arch.endsWith('-imagenet') ? [3, 224, 224] : [3, 32, 32];
}

/**
 * Builds the architecture and loads a PyTorch checkpoint into it (strict: missing keys are named).
 *
 * @example
 * ```ts
 * const model = convertCheckpoint('resnet18_linf.pt', { arch: 'resnet18', onNote: console.log });
 * saveModel('runs/resnet18-linf', model);
 * ```
 */
export function convertCheckpoint(path: string, o: ConvertOptions): ImageClassifier {
  const raw = loadTensors(pickStateDict(readCheckpoint(path), path, o.key, o.onNote), path, o.onNote);
  try {
    return scope(() => {
      const { state, normalization } = mapKeys(raw);
      const cls = state.get('classifier.weight');
      if (cls?.ndim !== 2) {
        const keys = [...state.keys()];
        throw new Error(
          `${path} has no classifier weight (looked for classifier/fc/linear.weight among ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', ...' : ''})`,
        );
      }
      const first = [...state.entries()].find(([k, t]) => k.endsWith('weight') && t.ndim === 4);
      if (!first) throw new Error(`${path} has no convolution weights: not a ${o.arch} checkpoint`);
      const base = o.arch === 'small-cnn' ? 32 : 64;
      const width = first[1].shape[0]! / base;
      const shape = o.inputShape ?? defaultShape(o.arch);
      const norm = o.normalization ?? normalization ?? (o.arch.endsWith('-imagenet') ? IMAGENET_NORMALIZATION : undefined);
      const model = createModel(
        { arch: o.arch, inputShape: shape, numClasses: cls.shape[0]!, width, normalization: norm },
        { device: o.device },
      );
      try {
        model.loadStateDict(state);
      } catch (e) {
        model.dispose();
        throw new Error(`${path}: ${(e as Error).message}`);
      }
      return model;
    });
  } finally {
    for (const t of raw.values()) t.dispose();
  }
}
