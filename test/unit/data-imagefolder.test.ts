import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Batch } from '../../src/data/dataset.js';
import { loadImageFolder, pyRound, randomResizedCropBox } from '../../src/data/imageFolder.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-imgf-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rgb = (x: number, y: number, c: number): number => (x * 20 + y * 7 + c * 50) % 256;

/** Writes a width x height image whose channel c at (x, y) is value(x, y, c); format from the extension. */
async function writeImage(
  file: string,
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  value: (x: number, y: number, c: number) => number = rgb,
): Promise<void> {
  mkdirSync(join(file, '..'), { recursive: true });
  const px = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) px[(y * width + x) * channels + c] = value(x, y, c);
  const img = sharp(px, { raw: { width, height, channels } });
  await (/\.jpe?g$/i.test(file) ? img.jpeg({ quality: 95 }) : img.png()).toFile(file);
}

/** Pseudo-random pixels, so that different crops give different images. */
const noise = (x: number, y: number, c: number): number =>
  (Math.imul((x * 73856093) ^ (y * 19349663) ^ (c * 83492791), 2654435761) >>> 24) & 255;

function dispose(b: Batch): void {
  b.images.dispose();
  b.labels.dispose();
}

test('image folder: sorted classes and files, extensions, labels without decoding, defaults', async () => {
  await withDir(async (dir) => {
    await writeImage(join(dir, 'dog', 'b.PNG'), 4, 4, 3);
    await writeImage(join(dir, 'dog', 'a.jpeg'), 4, 4, 3);
    await writeImage(join(dir, 'cat', 'z.JPG'), 4, 4, 3);
    await writeImage(join(dir, 'bird', 'nested', 'n.png'), 4, 4, 3);
    writeFileSync(join(dir, 'cat', 'notes.txt'), 'not an image');
    writeFileSync(join(dir, 'README'), 'top-level files are not classes');
    const ds = loadImageFolder(dir, 'train', {});
    assert.equal(ds.name, 'imagenet');
    assert.deepEqual(ds.classNames, ['bird', 'cat', 'dog']);
    assert.equal(ds.length, 4);
    assert.deepEqual(
      ds.files.map((f) => f.slice(dir.length + 1)),
      ['bird/nested/n.png', 'cat/z.JPG', 'dog/a.jpeg', 'dog/b.PNG'],
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => ds.label(i)),
      [0, 1, 2, 2],
    );
    assert.throws(() => ds.label(4), RangeError);
    assert.deepEqual(ds.imageShape, [3, 224, 224]);
    assert.deepEqual(ds.normalization, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    const b = await ds.load([3, 1]);
    try {
      assert.deepEqual(b.images.shape, [2, 3, 224, 224]);
      assert.equal(b.images.dtype, 'float32');
      assert.deepEqual([...(b.labels.toArray() as BigInt64Array)], [2n, 1n]);
      assert.deepEqual(b.indices, [3, 1]);
    } finally {
      dispose(b);
    }
    await assert.rejects(ds.load([0, 9]), /sample index 9 is outside 0\.\.3/);
    assert.equal(loadImageFolder(dir, 'test', { name: 'tiny' }).name, 'tiny');
  });
});

test('image folder evaluation: exact PNG pixels, centre crop with Python rounding, grey and alpha to RGB', async () => {
  await withDir(async (dir) => {
    await writeImage(join(dir, 'a', '0-wide.png'), 10, 6, 3); // crop left (10-6)/2 = 2
    await writeImage(join(dir, 'a', '1-odd.png'), 9, 6, 3); // left round(1.5) = 2
    await writeImage(join(dir, 'a', '2-tall.png'), 6, 11, 3); // top round(2.5) = 2
    await writeImage(join(dir, 'b', '3-grey.png'), 6, 6, 1);
    await writeImage(join(dir, 'b', '4-rgba.png'), 6, 6, 4, (x, y, c) => (c === 3 ? 40 : rgb(x, y, c)));
    await writeImage(join(dir, 'b', '5-greyalpha.png'), 6, 6, 2, (x, y, c) => (c === 1 ? 0 : rgb(x, y, c)));
    const ds = loadImageFolder(dir, 'test', { imageSize: 6, resize: 6 });
    const b = await ds.load([0, 1, 2, 3, 4, 5]);
    try {
      assert.deepEqual(b.images.shape, [6, 3, 6, 6]);
      const img = b.images.toArray() as Float32Array;
      const offsets: [number, number, number][] = [
        [2, 0, 3],
        [2, 0, 3],
        [0, 2, 3],
        [0, 0, 1],
        [0, 0, 3],
        [0, 0, 1],
      ];
      offsets.forEach(([dx, dy, channels], k) => {
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < 6; y++) {
            for (let x = 0; x < 6; x++) {
              const want = rgb(x + dx, y + dy, channels === 1 ? 0 : c);
              assert.equal(img[((k * 3 + c) * 6 + y) * 6 + x], Math.fround(want / 255), `image ${k} c${c} (${x}, ${y})`);
            }
          }
        }
      });
    } finally {
      dispose(b);
    }
  });
});

test('image folder evaluation resizes the shorter side then centre-crops', async () => {
  await withDir(async (dir) => {
    await writeImage(join(dir, 'x', 'big.jpg'), 120, 80, 3, noise);
    await writeImage(join(dir, 'x', 'flat.png'), 60, 40, 3, () => 77);
    const ds = loadImageFolder(dir, 'test', { imageSize: 16, resize: 20 });
    const b = await ds.load([0, 1]);
    try {
      assert.deepEqual(b.images.shape, [2, 3, 16, 16]);
      const img = b.images.toArray() as Float32Array;
      assert.ok(img.every((v) => v >= 0 && v <= 1));
      // A constant image stays constant through resampling.
      assert.ok(img.subarray(3 * 256).every((v) => Math.abs(v - 77 / 255) < 1e-6));
    } finally {
      dispose(b);
    }
  });
});

test('image folder training crops are deterministic per (seed, sample) and differ across seeds', async () => {
  await withDir(async (dir) => {
    for (let i = 0; i < 3; i++) await writeImage(join(dir, 'c', `${i}.jpg`), 64 + 8 * i, 48, 3, noise);
    const ds = loadImageFolder(dir, 'train', { imageSize: 24, resize: 28 });
    const sample = (b: Batch, k: number): number[] => [
      ...(b.images.toArray() as Float32Array).subarray(k * 3 * 24 * 24, (k + 1) * 3 * 24 * 24),
    ];
    const a = await ds.load([0, 1, 2], { augment: true, seed: 1 });
    const again = await ds.load([2, 1], { augment: true, seed: 1 });
    const other = await ds.load([1], { augment: true, seed: 2 });
    const evalB = await ds.load([1]);
    try {
      assert.deepEqual(a.images.shape, [3, 3, 24, 24]);
      assert.deepEqual(sample(again, 1), sample(a, 1));
      assert.deepEqual(sample(again, 0), sample(a, 2));
      assert.notDeepEqual(sample(other, 0), sample(a, 1));
      assert.notDeepEqual(sample(evalB, 0), sample(a, 1));
    } finally {
      for (const b of [a, again, other, evalB]) dispose(b);
    }
  });
});

test('RandomResizedCrop parameters follow torchvision, including the centre-crop fallback', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(pyRound), [0, 2, 2, 0, -2, 2, 3]);
  // Always the largest area and ratio: never fits a square image, so the whole image is used...
  assert.deepEqual(
    randomResizedCropBox(50, 50, () => 0.999999),
    { top: 0, left: 0, height: 50, width: 50 },
  );
  // ...and a very wide one is cut to ratio 4/3 in the middle.
  assert.deepEqual(
    randomResizedCropBox(100, 10, () => 0.999999),
    { top: 0, left: 43, height: 10, width: 13 },
  );
  let s = 1;
  const rand = (): number => {
    s = (Math.imul(s, 48271) >>> 0) % 2147483647;
    return s / 2147483647;
  };
  for (let i = 0; i < 500; i++) {
    const w = 20 + (i % 37);
    const h = 15 + (i % 23);
    const box = randomResizedCropBox(w, h, rand);
    assert.ok(
      box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0 && box.left + box.width <= w && box.top + box.height <= h,
      JSON.stringify(box),
    );
  }
});

test('image folder picks train and val/test sub-folders for the split', async () => {
  await withDir(async (dir) => {
    await writeImage(join(dir, 'train', 'a', '1.png'), 4, 4, 3);
    await writeImage(join(dir, 'train', 'b', '1.png'), 4, 4, 3);
    await writeImage(join(dir, 'val', 'b', '1.png'), 4, 4, 3);
    const train = loadImageFolder(dir, 'train', { imageSize: 4, resize: 4 });
    assert.deepEqual([train.length, train.classNames], [2, ['a', 'b']]);
    const test = loadImageFolder(dir, 'test', { imageSize: 4, resize: 4 });
    assert.deepEqual([test.length, test.classNames, test.root], [1, ['b'], join(dir, 'val')]);
    rmSync(join(dir, 'val'), { recursive: true });
    assert.throws(() => loadImageFolder(dir, 'test', {}), { message: `imagenet: ${dir} has a train folder but no val or test folder` });
  });
});

test('image folder errors: missing folder, no classes, no images, undecodable file', async () => {
  await withDir(async (dir) => {
    assert.throws(() => loadImageFolder(join(dir, 'nope'), 'train', {}), {
      message: `imagenet: folder ${join(dir, 'nope')} does not exist`,
    });
    writeFileSync(join(dir, 'x.png'), 'loose file');
    assert.throws(() => loadImageFolder(dir, 'train', {}), { message: `imagenet: ${dir} has no class sub-folders` });
    mkdirSync(join(dir, 'cls'));
    writeFileSync(join(dir, 'cls', 'a.txt'), 'text');
    assert.throws(() => loadImageFolder(dir, 'train', {}), { message: `imagenet: ${dir} has no JPEG or PNG images in its class folders` });
    assert.throws(() => loadImageFolder(dir, 'train', { imageSize: 32, resize: 16 }), /resize must be an integer >= imageSize/);
    await writeImage(join(dir, 'cls', 'good.png'), 8, 8, 3);
    writeFileSync(join(dir, 'cls', 'broken.jpg'), 'this is not a JPEG');
    const ds = loadImageFolder(dir, 'train', { imageSize: 8, resize: 8 });
    await assert.rejects(ds.load([1, 0]), (e: Error) => {
      assert.match(
        e.message,
        new RegExp(`^imagenet: cannot decode ${join(dir, 'cls', 'broken.jpg').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
      );
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });
});
