// Opening a data set by name, with optional subsets (--limit, --indices).
import { existsSync, statSync } from 'node:fs';
import { SubsetDataset, type ImageDataset, type Split } from './dataset.js';
import { EMBEDDED_FASHION_MNIST, loadFashionMnist } from './fashionMnist.js';

export const DATASETS = ['fashion-mnist', 'cifar10', 'imagenet'] as const;
export type DatasetName = (typeof DATASETS)[number];

export interface OpenOptions {
  /** Folder holding the data set (required for cifar10 and imagenet). */
  data?: string;
  /** Keep only the first N samples. */
  limit?: number;
  /** Keep only these sample positions (after nothing else). */
  indices?: number[];
  /** Side of the square images of folder data sets. */
  imageSize?: number;
}

export async function openDataset(name: string, split: Split, opts: OpenOptions = {}): Promise<ImageDataset> {
  if (!(DATASETS as readonly string[]).includes(name)) throw new Error(`unknown data set '${name}' (expected ${DATASETS.join(', ')})`);
  if (opts.data !== undefined && (!existsSync(opts.data) || !statSync(opts.data).isDirectory())) {
    throw new Error(`data folder ${opts.data} does not exist`);
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
      ds = loadImageFolder(opts.data, split, { imageSize: opts.imageSize });
    }
  }
  return subset(ds, opts);
}

export function subset(ds: ImageDataset, opts: Pick<OpenOptions, 'limit' | 'indices'>): ImageDataset {
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit <= 0) throw new RangeError(`--limit must be a positive integer, got ${opts.limit}`);
  }
  let positions: number[] | null = opts.indices ? [...opts.indices] : null;
  if (opts.limit !== undefined) positions = (positions ?? Array.from({ length: Math.min(opts.limit, ds.length) }, (_, i) => i)).slice(0, opts.limit);
  return positions ? new SubsetDataset(ds, positions) : ds;
}

/** "0,5,10-19" -> [0, 5, 10, ..., 19]. */
export function parseIndices(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`--indices: '${part}' is not an index or a range like 10-19`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`--indices: range ${part} runs backwards`);
    for (let i = a; i <= b; i++) out.push(i);
  }
  if (!out.length) throw new Error('--indices is empty');
  return out;
}
