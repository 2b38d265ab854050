// Opening a data set by name, with optional subsets (--limit, --indices).
import { existsSync, statSync } from 'node:fs';
import { SubsetDataset, type ImageDataset, type Split } from './dataset.js';
import { EMBEDDED_FASHION_MNIST, loadFashionMnist } from './fashionMnist.js';
import { readClassList, type ClassList } from './classList.js';

/**
 * The data sets {@link openDataset} knows by name ('imagenet': any ImageNet-style folder of class folders).
 */
export const DATASETS = ['fashion-mnist', 'cifar10', 'imagenet'] as const;
/** A data set's name, as the command line takes it. */
export type DatasetName = (typeof DATASETS)[number];

/** Options of {@link openDataset}: where the files are, and which samples to keep. */
export interface OpenOptions {
  /** Folder holding the data set (required for cifar10 and imagenet). */
  data?: string;
  /** Keep only the first N samples. */
  limit?: number;
  /** Keep only these sample positions (after nothing else): a list, or a spec like "0,5,10-19" checked against the data set's size. */
  indices?: number[] | string;
  /** Side of the square images of folder data sets. */
  imageSize?: number;
  /** Image folders: the model's classes in order (a shipped list's name such as 'imagenet', a file of folder names, or the list). */
  classes?: string | ClassList;
}

/**
 * Opens a data set by name: the embedded Fashion-MNIST, CIFAR-10's python files or an image folder
 * (`opts.data`), optionally cut to `limit` samples or the listed `indices`.
 *
 * @example
 * ```ts
 * const test = await openDataset('cifar10', 'test', { data: 'data/cifar-10-batches-py', limit: 1000 });
 * ```
 */
export async function openDataset(name: string, split: Split, opts: OpenOptions = {}): Promise<ImageDataset> {
  if (!(DATASETS as readonly string[]).includes(name)) throw new Error(`unknown data set '${name}' (expected ${DATASETS.join(', ')})`);
  if (opts.data !== undefined && (!existsSync(opts.data) || !statSync(opts.data).isDirectory())) {
    throw new Error(`data folder ${opts.data} does not exist`);
  }
  if (opts.classes !== undefined && name !== 'imagenet') {
    throw new Error(`--classes applies to image folders (imagenet), not ${name}, whose classes are fixed`);
  }
  let ds: ImageDataset;
  if (name === 'fashion-mnist') {
    ds = loadFashionMnist(split, opts.data ?? EMBEDDED_FASHION_MNIST);
  } else {
    if (!opts.data) throw new Error(`${name} is not shipped with Sauron: pass --data DIR pointing at your copy`);
    if (name === 'cifar10') {
      const { loadCifar10 } = await import('./cifar10.js');
      ds = loadCifar10(opts.data, split);
    } else {
      const { loadImageFolder } = await import('./imageFolder.js');
      ds = loadImageFolder(opts.data, split, {
        imageSize: opts.imageSize,
        classes: typeof opts.classes === 'string' ? readClassList(opts.classes) : opts.classes,
      });
    }
  }
  return subset(ds, opts);
}

/**
 * The first `limit` samples, or the samples at `indices` (a list or a spec like "0,5,10-19"), of a data set; the data set itself when neither is given.
 */
export function subset(ds: ImageDataset, opts: Pick<OpenOptions, 'limit' | 'indices'>): ImageDataset {
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit <= 0) throw new RangeError(`--limit must be a positive integer, got ${opts.limit}`);
  }
  const given = typeof opts.indices === 'string' ? parseIndices(opts.indices, { size: ds.length }) : opts.indices;
  let positions: number[] | null = given ? [...given] : null;
  if (opts.limit !== undefined)
    positions = (positions ?? Array.from({ length: Math.min(opts.limit, ds.length) }, (_, i) => i)).slice(0, opts.limit);
  return positions ? new SubsetDataset(ds, positions) : ds;
}

/** The most positions a spec may expand to when the size it indexes is not known. */
const MAX_POSITIONS = 10_000_000;

/**
 * "0,5,10-19" -> [0, 5, 10, ..., 19]. Every range is checked against `size` (when known) and
 * the total counted before anything is expanded, so "0-4000000000" is one line, not an array.
 */
export function parseIndices(spec: string, o: { size?: number; option?: string } = {}): number[] {
  const opt = o.option ?? '--indices';
  const ranges: [number, number][] = [];
  let total = 0;
  const cap = Math.max(o.size ?? 0, MAX_POSITIONS);
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const shown = part.length > 40 ? `${part.slice(0, 40)}...` : part;
    if (!m) throw new Error(`${opt}: '${shown}' is not an index or a range like 10-19`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) throw new Error(`${opt}: '${shown}' is too large to be a position`);
    if (b < a) throw new Error(`${opt}: range ${part} runs backwards`);
    if (o.size !== undefined && b >= o.size) {
      throw new Error(
        o.size === 0
          ? `${opt}: ${shown}: the data set is empty`
          : `${opt}: ${shown} is outside 0..${o.size - 1} (the data set has ${o.size} rows)`,
      );
    }
    total += b - a + 1;
    if (total > cap) throw new Error(`${opt}: ${spec.length > 40 ? `${spec.slice(0, 40)}...` : spec} selects more than ${cap} positions`);
    ranges.push([a, b]);
  }
  if (!ranges.length) throw new Error(`${opt} is empty`);
  const out = new Array<number>(total);
  let k = 0;
  for (const [a, b] of ranges) for (let i = a; i <= b; i++) out[k++] = i;
  return out;
}
