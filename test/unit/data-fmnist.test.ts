// IDX / Fashion-MNIST loading, subsets, augmentation and batch order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { readIdx } from '../../src/data/idx.js';
import { augmentBatch } from '../../src/data/augment.js';
import { batches, epochOrder } from '../../src/data/loader.js';
import { subset, parseIndices, openDataset } from '../../src/data/registry.js';
import { Generator, scope } from '../../src/index.js';
import { tensor } from '../../src/tensor/index.js';

function idx(magic: number, dims: number[], data: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

function writeFmnist(dir: string, n: number, opts: { truncate?: boolean; badMagic?: boolean; gzip?: boolean } = {}): void {
  const pixels = Array.from({ length: n * 4 * 4 }, (_, i) => i % 256);
  let img = idx(opts.badMagic ? 0x801 : 0x803, [n, 4, 4], pixels);
  if (opts.truncate) img = img.subarray(0, img.length - 5);
  const lab = idx(
    0x801,
    [n],
    Array.from({ length: n }, (_, i) => i % 10),
  );
  for (const p of ['train', 't10k']) {
    writeFileSync(join(dir, `${p}-images-idx3-ubyte.gz`), opts.gzip === false ? img : gzipSync(img));
    writeFileSync(join(dir, `${p}-labels-idx1-ubyte.gz`), opts.gzip === false ? lab : gzipSync(lab));
  }
}

test('IDX files (gzipped or raw) in the Fashion-MNIST layout load exactly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-idx-'));
  try {
    for (const gzip of [true, false]) {
      writeFmnist(dir, 12, { gzip });
      const ds = loadFashionMnist('test', dir);
      assert.equal(ds.length, 12);
      assert.deepEqual(ds.imageShape, [1, 4, 4]);
      assert.equal(ds.label(11), 1);
      scope(() => {
        const b = ds.loadSync([3, 0]);
        assert.deepEqual(b.images.shape, [2, 1, 4, 4]);
        assert.equal(b.images.dtype, 'float32');
        assert.deepEqual(b.labels.toNumbers(), [3, 0]);
        const px = b.images.toArray<'float32'>();
        assert.ok(Math.abs(px[0]! - 48 / 255) < 1e-7, 'pixel 0 of sample 3 is byte 48');
        assert.ok(Math.abs(px[16 + 5]! - 5 / 255) < 1e-7);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad IDX files give one-line errors naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-idx-'));
  try {
    assert.throws(() => loadFashionMnist('train', dir), /train-images-idx3-ubyte\.gz is missing/);
    writeFmnist(dir, 4, { truncate: true, gzip: false });
    assert.throws(() => loadFashionMnist('train', dir), /is truncated: its header promises 64 values, it holds 59/);
    writeFmnist(dir, 4, { badMagic: true });
    assert.throws(() => loadFashionMnist('train', dir), /magic number 0x00000801, expected 0x00000803/);
    writeFileSync(join(dir, 'x.gz'), gzipSync(Buffer.alloc(100)).subarray(0, 20));
    assert.throws(() => readIdx(join(dir, 'x.gz'), 0x803), /damaged or truncated gzip/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the embedded Fashion-MNIST has 60,000 / 10,000 images, 1,000 test images per class', async () => {
  const train = loadFashionMnist('train');
  const t = await openDataset('fashion-mnist', 'test');
  assert.equal(train.length, 60000);
  assert.equal(t.length, 10000);
  assert.deepEqual(t.imageShape, [1, 28, 28]);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < t.length; i++) counts[t.label(i)]++;
  assert.deepEqual(counts, new Array(10).fill(1000));
  assert.equal(t.classNames[9], 'Ankle boot');
});

test('subsets: --limit and --indices', async () => {
  const t = await openDataset('fashion-mnist', 'test', { limit: 5 });
  assert.equal(t.length, 5);
  assert.deepEqual(parseIndices('3,7-9'), [3, 7, 8, 9]);
  assert.throws(() => parseIndices('5-2'), /backwards/);
  assert.throws(() => parseIndices('a'), /not an index/);
  const s = subset(loadFashionMnist('test'), { indices: [10, 2] });
  assert.equal(s.label(0), loadFashionMnist('test').label(10));
  await assert.rejects(openDataset('fashion-mnist', 'test', { limit: 0 }), /--limit must be a positive integer/);
  await assert.rejects(openDataset('cifar10', 'test'), /pass --data DIR/);
  await assert.rejects(openDataset('mnist', 'test'), /unknown data set 'mnist'/);
  assert.throws(() => subset(loadFashionMnist('test'), { indices: [10000] }), /outside/);
});

test('random crop with padding shifts each image inside its padding; flip mirrors; both are seeded', () => {
  scope(() => {
    const x = tensor(
      Float32Array.from({ length: 2 * 1 * 5 * 5 }, (_, i) => (i % 25) + 1),
      { shape: [2, 1, 5, 5] },
    );
    const a = augmentBatch(x, { cropPadding: 2 }, new Generator(3));
    const b = augmentBatch(x, { cropPadding: 2 }, new Generator(3));
    assert.deepEqual(a.toArray(), b.toArray());
    const img = x.toArray<'float32'>().slice(0, 25);
    const out = a.toArray<'float32'>().slice(0, 25);
    // find the shift (dy, dx) in [-2, 2] that explains the output
    let found = false;
    for (let dy = -2; dy <= 2 && !found; dy++) {
      for (let dx = -2; dx <= 2 && !found; dx++) {
        let ok = true;
        for (let r = 0; r < 5 && ok; r++) {
          for (let c = 0; c < 5 && ok; c++) {
            const sr = r + dy;
            const sc = c + dx;
            const want = sr >= 0 && sr < 5 && sc >= 0 && sc < 5 ? img[sr * 5 + sc]! : 0;
            ok = out[r * 5 + c] === want;
          }
        }
        found = ok;
      }
    }
    assert.ok(found, 'output is the input shifted by at most the padding, zeros outside');
    const f = augmentBatch(x, { hflip: true }, new Generator(0));
    const fa = f.toArray<'float32'>();
    for (let s = 0; s < 2; s++) {
      const row = Array.from(fa.slice(s * 25, s * 25 + 5));
      assert.ok(row.join() === '1,2,3,4,5' || row.join() === '5,4,3,2,1');
    }
    assert.deepEqual(x.toArray<'float32'>().slice(0, 5), Float32Array.from([1, 2, 3, 4, 5]), 'input unchanged');
  });
});

test('batches: fixed order without shuffle, a seeded permutation per epoch with it', async () => {
  const ds = subset(loadFashionMnist('test'), { limit: 50 });
  assert.deepEqual(epochOrder(ds, { batchSize: 8 }).slice(0, 3), [0, 1, 2]);
  const e0 = epochOrder(ds, { batchSize: 8, shuffle: true, seed: 1, epoch: 0 });
  assert.deepEqual(e0, epochOrder(ds, { batchSize: 8, shuffle: true, seed: 1, epoch: 0 }));
  assert.notDeepEqual(e0, epochOrder(ds, { batchSize: 8, shuffle: true, seed: 1, epoch: 1 }));
  assert.deepEqual(
    [...e0].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  const sizes: number[] = [];
  for await (const b of batches(ds, { batchSize: 16 })) {
    sizes.push(b.indices.length);
    b.images.dispose();
    b.labels.dispose();
  }
  assert.deepEqual(sizes, [16, 16, 16, 2]);
});
