// PyTorch state dicts (torch.save zip files) of the zoo's architectures, from the common
// layouts: torchvision (final layer `fc`, `downsample`), the robustness library used by the
// paper (`module.model.` / `module.attacker.model.` prefixes, `normalizer` buffers, final
// layer `linear` for ResNets) and Sauron's own keys.
import { existsSync, readFileSync } from 'node:fs';
import { loadPickle } from '../tensor/script.js';
import { Tensor } from '../tensor/tensor.js';
import { scope } from '../tensor/scope.js';
import { createModel } from './zoo.js';
import type { Device } from '../tensor/deviceState.js';
import type { ImageClassifier, Normalization } from './classifier.js';

export interface ConvertOptions {
  arch: string;
  /** [C, H, W]; default per architecture family (CIFAR 3x32x32, ImageNet 3x224x224, small-cnn 1x28x28). */
  inputShape?: [number, number, number];
  /** Overrides the normalisation found in the checkpoint (robustness' normalizer buffers). */
  normalization?: Normalization;
  /** Where the converted model lives (the checkpoint is read on the host). */
  device?: Device;
}

const IMAGENET_NORMALIZATION = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

function collect(v: unknown, prefix: string, out: Map<string, Tensor>): void {
  if (v && typeof v === 'object' && 'tensor' in v && typeof (v as { tensor: unknown }).tensor === 'number' && Object.keys(v).length === 1) {
    out.set(prefix, new Tensor((v as { tensor: number }).tensor));
  } else if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) collect(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(v)) v.forEach((x, i) => collect(x, `${prefix}.${i}`, out));
}

/** Reads the tensors of a torch.save file, keyed by their path in the saved object. */
export function readTorchFile(path: string): Map<string, Tensor> {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  let obj: unknown;
  try {
    obj = loadPickle(readFileSync(path));
  } catch (e) {
    throw new Error(`${path} is not a PyTorch checkpoint (torch.save zip file): ${(e as Error).message.split('\n')[0]}`);
  }
  const out = new Map<string, Tensor>();
  collect(obj, '', out);
  return out;
}

/** Maps a checkpoint's keys to Sauron's; returns the state dict and any normaliser found. */
export function mapKeys(raw: Map<string, Tensor>): { state: Map<string, Tensor>; normalization: Normalization | null } {
  // checkpoints wrap the state dict: {'model': ...} (robustness) or {'state_dict': ...}
  let keys = [...raw.keys()];
  for (const wrapper of ['model.', 'state_dict.']) {
    if (keys.length && keys.every((k) => k.startsWith(wrapper) || !k.includes('.'))) {
      keys = keys.filter((k) => k.startsWith(wrapper));
      raw = new Map(keys.map((k) => [k.slice(wrapper.length), raw.get(k)!]));
      break;
    }
  }
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
    k = k.replace(/^module\.model\./, '').replace(/^module\./, '').replace(/^model\./, '');
    k = k.replace(/^(fc|linear)\./, 'classifier.');
    state.set(k, t);
  }
  return { state, normalization: mean && std ? { mean, std } : null };
}

function defaultShape(arch: string): [number, number, number] {
  if (arch === 'small-cnn') return [1, 28, 28];
  return arch.endsWith('-imagenet') ? [3, 224, 224] : [3, 32, 32];
}

/** Builds the architecture and loads a PyTorch checkpoint into it (strict: missing keys are named). */
export function convertCheckpoint(path: string, o: ConvertOptions): ImageClassifier {
  const raw = readTorchFile(path);
  try {
    return scope(() => {
      const { state, normalization } = mapKeys(raw);
      const cls = state.get('classifier.weight');
      if (!cls || cls.ndim !== 2) throw new Error(`${path} has no classifier weight (looked for classifier/fc/linear.weight among ${[...state.keys()].slice(0, 8).join(', ')}, ...)`);
      const first = [...state.entries()].find(([k, t]) => k.endsWith('weight') && t.ndim === 4);
      if (!first) throw new Error(`${path} has no convolution weights: not a ${o.arch} checkpoint`);
      const base = o.arch === 'small-cnn' ? 32 : 64;
      const width = first[1].shape[0]! / base;
      const shape = o.inputShape ?? defaultShape(o.arch);
      const norm = o.normalization ?? normalization ?? (o.arch.endsWith('-imagenet') ? IMAGENET_NORMALIZATION : undefined);
      const model = createModel({ arch: o.arch, inputShape: shape, numClasses: cls.shape[0]!, width, normalization: norm }, { device: o.device });
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
