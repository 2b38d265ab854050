// CIFAR-10 from either official download: the binary version (cifar-10-batches-bin) or the
// python version (cifar-10-batches-py, Python 2 pickles of numpy arrays).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MIB, readRegularFile } from '../serialization/regularFile.js';
import { InMemoryDataset, type Split } from './dataset.js';
import { NdArray, parsePickle } from './numpyPickle.js';

/** CIFAR-10's ten class names, in label order. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const CIFAR10_NORMALIZATION = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;
/** A python batch of 10,000 images is 31 MB: far above that, far below memory. */
const MAX_PICKLE_BYTES = 512 * MIB;
const TRAIN = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}`);

function batchNames(split: Split): string[] {
  return split === 'train' ? TRAIN : ['test_batch'];
}

/** The folder holding the batches and which version it is, looking in dir and its usual subfolders. */
function findLayout(dir: string): { root: string; kind: 'bin' | 'py' } {
  const all = [...TRAIN, 'test_batch'];
  for (const root of [dir, join(dir, 'cifar-10-batches-bin'), join(dir, 'cifar-10-batches-py')]) {
    if (all.some((f) => existsSync(join(root, `${f}.bin`)))) return { root, kind: 'bin' };
    if (all.some((f) => existsSync(join(root, f)))) return { root, kind: 'py' };
  }
  throw new Error(`cifar10: no CIFAR-10 files in ${dir} (expected data_batch_1.bin ... or the python version data_batch_1 ...)`);
}

function checkLabels(file: string, labels: ArrayLike<number>): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= 10) throw new Error(`cifar10: ${file} record ${i} has label ${labels[i]} (expected 0..9)`);
  }
}

function loadBinary(root: string, split: Split): { images: Uint8Array; labels: Uint8Array } {
  const files = batchNames(split).map((f) => join(root, `${f}.bin`));
  const sizes = files.map((file) => {
    if (!existsSync(file)) throw new Error(`cifar10: ${file} is missing`);
    const size = statSync(file).size;
    if (size === 0 || size % RECORD !== 0) {
      throw new Error(`cifar10: ${file} is truncated: ${size} bytes is not a whole number of ${RECORD}-byte records`);
    }
    return size / RECORD;
  });
  const n = sizes.reduce((a, b) => a + b, 0);
  // Written straight into one buffer: the 50,000 training images are 150 MB.
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  let at = 0;
  files.forEach((file, f) => {
    const bytes = readRegularFile(file, sizes[f]! * RECORD);
    if (bytes.length !== sizes[f]! * RECORD) throw new Error(`cifar10: ${file} changed while it was being read`);
    for (let r = 0; r < sizes[f]!; r++, at++) {
      const off = r * RECORD;
      labels[at] = bytes[off]!;
      images.set(bytes.subarray(off + 1, off + RECORD), at * PIXELS);
    }
    checkLabels(file, labels.subarray(at - sizes[f]!, at));
  });
  return { images, labels };
}

function readPickle(file: string): Map<unknown, unknown> {
  if (!existsSync(file)) throw new Error(`cifar10: ${file} is missing`);
  let value: unknown;
  try {
    value = parsePickle(readRegularFile(file, MAX_PICKLE_BYTES));
  } catch (e) {
    throw new Error(`cifar10: ${file}: ${(e as Error).message}`);
  }
  if (!(value instanceof Map)) throw new Error(`cifar10: ${file} does not hold a dict`);
  return value;
}

function loadPython(root: string, split: Split): { images: Uint8Array; labels: Uint8Array; classNames: string[] } {
  const parts = batchNames(split).map((name) => {
    const file = join(root, name);
    const d = readPickle(file);
    const data = d.get('data');
    const labels = d.get('labels');
    if (!(data instanceof NdArray) || data.dtype.replace(/^[|<>=]/, '') !== 'u1' || data.shape.length !== 2 || data.shape[1] !== PIXELS) {
      throw new Error(`cifar10: ${file} has no 'data' array of uint8 [N, ${PIXELS}]`);
    }
    if (!Array.isArray(labels) || labels.length !== data.shape[0] || !labels.every((l) => Number.isInteger(l) && l >= 0)) {
      throw new Error(`cifar10: ${file} needs 'labels', a list of ${data.shape[0]} non-negative integers`);
    }
    checkLabels(file, labels as number[]);
    return { data: data.data, labels: labels as number[] };
  });
  const n = parts.reduce((a, p) => a + p.labels.length, 0);
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.data, at * PIXELS);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  let classNames = CIFAR10_CLASSES;
  const metaFile = join(root, 'batches.meta');
  if (existsSync(metaFile)) {
    const names = readPickle(metaFile).get('label_names');
    if (!Array.isArray(names) || names.length !== 10 || !names.every((s) => typeof s === 'string' || s instanceof Uint8Array)) {
      throw new Error(`cifar10: ${metaFile} needs 'label_names', a list of 10 strings`);
    }
    classNames = names.map((s) => (typeof s === 'string' ? s : Buffer.from(s).toString('latin1')));
  }
  return { images, labels, classNames };
}

/** CIFAR-10 as uint8 CHW 3x32x32 images in memory, from either official layout found in dir. */
export function loadCifar10(dir: string, split: Split): InMemoryDataset {
  const { root, kind } = findLayout(dir);
  const { images, labels, classNames } =
    kind === 'bin' ? { ...loadBinary(root, split), classNames: CIFAR10_CLASSES } : loadPython(root, split);
  return new InMemoryDataset(
    'cifar10',
    split,
    [3, 32, 32],
    [...classNames],
    { mean: [...CIFAR10_NORMALIZATION.mean], std: [...CIFAR10_NORMALIZATION.std] },
    images,
    labels,
  );
}
