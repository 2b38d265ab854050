// ImageNet-style folders (one sub-folder per class, like torchvision's ImageFolder), decoded
// batch by batch with sharp, with torchvision's evaluation and training transforms.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { tensor } from '../tensor/creation.js';
import type { Normalization } from './dataset.js';
import type { Batch, ImageDataset, Split } from './dataset.js';
import { HOST } from './dataset.js';
import { MAX_CLASSES, type ClassList } from './classList.js';
import { classFolders, listImages, MAX_IMAGE_BYTES, readImageFile } from './imageFiles.js';

/** Options of {@link loadImageFolder}: image size, class order and limits. */
export interface ImageFolderOptions {
  /** Side of the square images loaded (default 224). */
  imageSize?: number;
  /** Shorter side before the evaluation centre crop (default 256). */
  resize?: number;
  /** Data-set name used in messages and results (default 'imagenet'). */
  name?: string;
  /**
   * The model's classes in order (--classes): each folder's label is its name's position, and
   * a listed class may have no folder or an empty one. Default: the sorted folder names.
   */
  classes?: ClassList;
  /** Largest image file read (default 64 MiB). */
  maxFileBytes?: number;
}

const CONCURRENCY = 4;

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Python's round(): halves go to the even neighbour (torchvision's crop offsets use it). */
export function pyRound(x: number): number {
  const r = Math.round(x);
  const even = Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  return even === 0 ? 0 : even; // no -0
}

/** mulberry32 seeded by a hash of (seed, sample index): a sample's crop does not depend on its batch. */
function samplePrng(seed: number, index: number): () => number {
  const mix = (h: number, k: number): number => {
    h ^= Math.imul(k, 0xcc9e2d51);
    h = Math.imul((h << 15) | (h >>> 17), 0x1b873593);
    return Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  };
  let a = mix(mix(mix(0x9e3779b9, seed >>> 0), Math.floor(seed / 2 ** 32) >>> 0), index >>> 0);
  a ^= a >>> 13;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** torchvision's RandomResizedCrop.get_params: 10 tries at a random area and aspect ratio, then a centre crop. */
export function randomResizedCropBox(
  width: number,
  height: number,
  rand: () => number,
  scale: [number, number] = [0.08, 1],
  ratio: [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * rand());
    const aspect = Math.exp(logRatio[0] + (logRatio[1] - logRatio[0]) * rand());
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(rand() * (height - h + 1));
      const left = Math.floor(rand() * (width - w + 1));
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = pyRound(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = pyRound(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** Images in class folders, decoded on demand to float32 [B, 3, S, S] in [0, 1]. */
export class ImageFolderDataset implements ImageDataset {
  readonly imageShape: [number, number, number];
  readonly normalization: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

  constructor(
    readonly name: string,
    readonly split: Split,
    readonly root: string,
    readonly classNames: string[],
    readonly files: string[],
    readonly labels: Uint16Array,
    readonly imageSize: number,
    readonly resize: number,
    /** The data folder, symlinks resolved: no file outside it is read. */
    readonly dataRoot: string = realpathSync(root),
    readonly maxFileBytes = MAX_IMAGE_BYTES,
  ) {
    this.imageShape = [3, imageSize, imageSize];
  }

  get length(): number {
    return this.files.length;
  }

  label(i: number): number {
    const l = this.labels[i];
    if (!Number.isInteger(i) || l === undefined) throw new RangeError(`sample index ${i} is outside 0..${this.length - 1}`);
    return l;
  }

  async load(indices: number[], opts: { augment?: boolean; seed?: number } = {}): Promise<Batch> {
    for (const i of indices) this.label(i);
    const s = this.imageSize;
    const n = 3 * s * s;
    const buf = new Uint8Array(indices.length * n);
    // A small pool of decoders: at most CONCURRENCY files are in memory besides the batch.
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < indices.length) {
        const k = next++;
        try {
          await this.#decode(indices[k]!, buf.subarray(k * n, (k + 1) * n), opts.augment ?? false, opts.seed ?? 0);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, indices.length) }, worker));
    const raw = tensor(buf, { shape: [indices.length, ...this.imageShape], device: HOST });
    const images = raw.to('float32').div_(255);
    raw.dispose();
    const labels = tensor(
      BigInt64Array.from(indices, (i) => BigInt(this.labels[i]!)),
      { device: HOST },
    );
    return { images, labels, indices };
  }

  /** Decodes sample idx into out (uint8 CHW S x S). */
  async #decode(idx: number, out: Uint8Array, augment: boolean, seed: number): Promise<void> {
    const file = this.files[idx]!;
    const s = this.imageSize;
    let pixels: Buffer;
    let flip = false;
    let bytes: Buffer;
    try {
      bytes = await readImageFile(file, this.dataRoot, this.maxFileBytes);
    } catch (e) {
      throw new Error(`${this.name}: ${(e as Error).message}`);
    }
    try {
      const { width, height } = await sharp(bytes).metadata();
      if (!width || !height) throw new Error('no image size in the header');
      let img = sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb');
      if (augment) {
        const rand = samplePrng(seed, idx);
        const box = randomResizedCropBox(width, height, rand);
        flip = rand() < 0.5;
        img = img.extract(box).resize(s, s, { fit: 'fill', kernel: 'linear' });
      } else {
        // Resize(resize): shorter side to `resize`, the longer truncated as torchvision does; then CenterCrop.
        const short = Math.min(width, height);
        const long = Math.max(width, height);
        const other = Math.floor((this.resize * long) / short);
        const [rw, rh] = width <= height ? [this.resize, other] : [other, this.resize];
        if (rw !== width || rh !== height) img = img.resize(rw, rh, { fit: 'fill', kernel: 'linear' });
        img = img.extract({ left: pyRound((rw - s) / 2), top: pyRound((rh - s) / 2), width: s, height: s });
      }
      const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
      if (info.width !== s || info.height !== s || info.channels !== 3) {
        throw new Error(`decoded to ${info.width}x${info.height}x${info.channels} instead of ${s}x${s}x3`);
      }
      pixels = data;
    } catch (e) {
      throw new Error(`${this.name}: cannot decode ${file}: ${String((e as Error).message).split('\n')[0]}`);
    }
    // HWC -> CHW, mirroring columns for the horizontal flip.
    const plane = s * s;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const src = (y * s + (flip ? s - 1 - x : x)) * 3;
        const dst = y * s + x;
        out[dst] = pixels[src]!;
        out[plane + dst] = pixels[src + 1]!;
        out[2 * plane + dst] = pixels[src + 2]!;
      }
    }
  }
}

/**
 * Images in dir/<class>/*.{jpg,jpeg,png} (or dir/train/<class>/... and dir/val or dir/test for
 * the test split). Class indices follow the sorted folder names, as in torchvision's
 * ImageFolder, or the class list given.
 *
 * @example
 * ```ts
 * const val = loadImageFolder('data/imagenette', 'test', { imageSize: 224, classes: readClassList('imagenet') });
 * ```
 */
export function loadImageFolder(dir: string, split: Split, opts: ImageFolderOptions = {}): ImageFolderDataset {
  const name = opts.name ?? 'imagenet';
  const imageSize = opts.imageSize ?? 224;
  const resize = opts.resize ?? 256;
  if (!Number.isInteger(imageSize) || imageSize < 1)
    throw new RangeError(`${name}: imageSize must be a positive integer, not ${imageSize}`);
  if (!Number.isInteger(resize) || resize < imageSize)
    throw new RangeError(`${name}: resize must be an integer >= imageSize (${imageSize}), not ${resize}`);
  if (!existsSync(dir)) throw new Error(`${name}: folder ${dir} does not exist`);
  if (!isDir(dir)) throw new Error(`${name}: ${dir} is not a folder`);
  const dataRoot = realpathSync(dir);
  const splitDirs = split === 'train' ? ['train'] : ['val', 'test'];
  let root = splitDirs.map((d) => join(dir, d)).find(isDir);
  if (!root) {
    if (split === 'test' && isDir(join(dir, 'train'))) throw new Error(`${name}: ${dir} has a train folder but no val or test folder`);
    root = dir;
  }
  const folders = classFolders(root, dataRoot, name);
  if (folders.length === 0) throw new Error(`${name}: ${root} has no class sub-folders`);
  const listed = opts.classes?.names;
  if (listed) {
    const known = new Set(listed);
    const unknown = folders.filter((f) => !known.has(f));
    if (unknown.length) {
      const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '');
      throw new Error(
        `${name}: ${root} has ${unknown.length === 1 ? 'a class folder' : `${unknown.length} class folders`} ` +
          `not among the classes of ${opts.classes!.source}: ${shown}`,
      );
    }
  }
  const classNames = listed ?? folders;
  if (classNames.length > MAX_CLASSES) throw new Error(`${name}: ${root} has ${classNames.length} class folders (at most ${MAX_CLASSES})`);
  const labelOf = new Map(classNames.map((c, k) => [c, k]));
  const files: string[] = [];
  const labels: number[] = [];
  const empty: string[] = [];
  for (const c of folders) {
    const before = files.length;
    listImages(join(root, c), dataRoot, name, files);
    for (let i = before; i < files.length; i++) labels.push(labelOf.get(c)!);
    if (files.length === before) empty.push(c);
  }
  if (files.length === 0) throw new Error(`${name}: ${root} has no JPEG or PNG images in its class folders`);
  if (empty.length && !listed) {
    // as torchvision's ImageFolder: a class without images is more often a copy gone wrong than meant
    const one = empty.length === 1;
    throw new Error(
      `${name}: class folder${one ? '' : 's'} ${empty
        .slice(0, 5)
        .map((c) => join(root!, c))
        .join(', ')}${empty.length > 5 ? ` and ${empty.length - 5} more` : ''}${one ? ' holds' : ' hold'} ` +
        `no JPEG or PNG images: remove ${one ? 'it' : 'them'}, or pass --classes FILE listing the model's classes`,
    );
  }
  return new ImageFolderDataset(
    name,
    split,
    root,
    classNames,
    files,
    Uint16Array.from(labels),
    imageSize,
    resize,
    dataRoot,
    opts.maxFileBytes ?? MAX_IMAGE_BYTES,
  );
}
