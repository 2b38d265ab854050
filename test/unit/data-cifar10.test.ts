import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scope } from '../../src/index.js';
import { loadCifar10, CIFAR10_CLASSES } from '../../src/data/cifar10.js';
import { parsePickle, NdArray } from '../../src/data/numpyPickle.js';
import { ROOT } from '../support/helpers.js';

const PIXELS = 3072;

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-cifar-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// File f (0..4 the training batches, 5 the test batch), record r, byte p of the CHW image.
const binPixel = (f: number, r: number, p: number): number => (p * 3 + f * 17 + r * 29) % 256;
const binLabel = (f: number, r: number): number => (f + r * 3) % 10;
const FILES = ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'];

function binaryBatch(f: number, n: number): Buffer {
  const b = Buffer.alloc(n * (1 + PIXELS));
  for (let r = 0; r < n; r++) {
    b[r * 3073] = binLabel(f, r);
    for (let p = 0; p < PIXELS; p++) b[r * 3073 + 1 + p] = binPixel(f, r, p);
  }
  return b;
}

function writeBinary(dir: string, perBatch = 5): void {
  mkdirSync(dir, { recursive: true });
  FILES.forEach((name, f) => writeFileSync(join(dir, `${name}.bin`), binaryBatch(f, perBatch)));
}

/** Writes pickles byte by byte the way Python 2's cPickle (protocol 2) writes CIFAR-10's batches. */
class Py2Pickler {
  #parts: Buffer[] = [Buffer.from([0x80, 2])];
  #memo = 1;
  op(...bytes: number[]): this {
    this.#parts.push(Buffer.from(bytes));
    return this;
  }
  put(): this {
    return this.op(0x71, this.#memo++); // BINPUT
  }
  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= 0 && v < 65536) return this.op(0x4d, v & 255, v >> 8);
    const b = Buffer.alloc(5);
    b[0] = 0x4a;
    b.writeInt32LE(v, 1);
    return this.raw(b);
  }
  /** A Python 2 str (bytes), SHORT_BINSTRING or BINSTRING. */
  str(s: string | Uint8Array, memoize = true): this {
    const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s);
    if (b.length < 256) this.op(0x55, b.length);
    else {
      const len = Buffer.alloc(5);
      len[0] = 0x54;
      len.writeInt32LE(b.length, 1);
      this.raw(len);
    }
    this.raw(b);
    return memoize ? this.put() : this;
  }
  global(module: string, name: string): this {
    return this.raw(Buffer.from(`c${module}\n${name}\n`, 'latin1')).put();
  }
  raw(b: Buffer): this {
    this.#parts.push(b);
    return this;
  }
  /** numpy's ndarray.__reduce__ for a C-ordered uint8 array. */
  uint8Array(data: Uint8Array, shape: number[]): this {
    this.global('numpy.core.multiarray', '_reconstruct').global('numpy', 'ndarray');
    this.int(0).op(0x85).str('b', false).op(0x87, 0x52).put(); // (ndarray, (0,), 'b') REDUCE
    this.op(0x28).int(1); // MARK version
    for (const s of shape) this.int(s);
    this.op(shape.length === 2 ? 0x86 : 0x85); // shape tuple
    this.global('numpy', 'dtype').str('u1', false).int(0).int(1).op(0x87, 0x52).put(); // dtype('u1', 0, 1)
    this.op(0x28).int(3).str('|', false).op(0x4e, 0x4e, 0x4e).int(-1).int(-1).int(0).op(0x74, 0x62); // dtype state BUILD
    this.op(0x89); // is_fortran False
    this.str(data, false);
    return this.op(0x74, 0x62); // TUPLE BUILD
  }
  list(items: (() => void)[]): this {
    this.op(0x5d).put();
    for (let i = 0; i < items.length; i += 1000) {
      this.op(0x28);
      for (const it of items.slice(i, i + 1000)) it();
      this.op(0x65); // APPENDS
    }
    return this;
  }
  dict(entries: [string, () => void][]): this {
    this.op(0x7d).put().op(0x28);
    for (const [k, v] of entries) {
      this.str(k);
      v();
    }
    return this.op(0x75); // SETITEMS
  }
  bytes(): Buffer {
    return Buffer.concat([...this.#parts, Buffer.from('.')]);
  }
}

function py2Batch(f: number, n: number): Buffer {
  const data = new Uint8Array(n * PIXELS);
  for (let r = 0; r < n; r++) for (let p = 0; p < PIXELS; p++) data[r * PIXELS + p] = binPixel(f, r, p);
  const p = new Py2Pickler();
  p.dict([
    ['data', () => p.uint8Array(data, [n, PIXELS])],
    ['labels', () => p.list(Array.from({ length: n }, (_, r) => () => p.int(binLabel(f, r))))],
    ['batch_label', () => p.str(`batch ${f}`)],
    ['filenames', () => p.list(Array.from({ length: n }, (_, r) => () => p.str(`img_${f}_${r}.png`)))],
  ]);
  return p.bytes();
}

function writePy2(dir: string, perBatch = 5): void {
  mkdirSync(dir, { recursive: true });
  FILES.forEach((name, f) => writeFileSync(join(dir, name), py2Batch(f, perBatch)));
  const meta = new Py2Pickler();
  meta.dict([
    ['num_cases_per_batch', () => meta.int(10000)],
    ['label_names', () => meta.list(CIFAR10_CLASSES.map((c) => () => meta.str(c)))],
    ['num_vis', () => meta.int(3072)],
  ]);
  writeFileSync(join(dir, 'batches.meta'), meta.bytes());
}

/** Checks samples against pixel/label formulas: `at(i)` gives (file, record) of sample i. */
function checkSamples(
  dir: string,
  split: 'train' | 'test',
  n: number,
  at: (i: number) => [number, number],
  pixel: (f: number, r: number, p: number) => number,
  label: (f: number, r: number) => number,
): void {
  const ds = loadCifar10(dir, split);
  assert.equal(ds.name, 'cifar10');
  assert.equal(ds.split, split);
  assert.equal(ds.length, n);
  assert.deepEqual(ds.imageShape, [3, 32, 32]);
  assert.deepEqual(ds.classNames, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  assert.deepEqual(ds.normalization, { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] });
  const picks = [n - 1, 0, Math.floor(n / 2)];
  scope(() => {
    const b = ds.loadSync(picks);
    assert.deepEqual(b.images.shape, [3, 3, 32, 32]);
    assert.equal(b.images.dtype, 'float32');
    assert.equal(b.labels.dtype, 'int64');
    const img = b.images.toArray() as Float32Array;
    const lab = b.labels.toArray() as BigInt64Array;
    picks.forEach((i, k) => {
      const [f, r] = at(i);
      assert.equal(ds.label(i), label(f, r));
      assert.equal(lab[k], BigInt(label(f, r)));
      for (const p of [0, 1, 31, 32, 1023, 1024, 2048 + 33 * 17, 3071]) {
        assert.equal(img[k * PIXELS + p], Math.fround(pixel(f, r, p) / 255), `sample ${i} pixel ${p}`);
      }
    });
  });
}

test('cifar10 binary version: train and test splits, pixels and labels, in dir or cifar-10-batches-bin', () => {
  withDir((dir) => {
    writeBinary(join(dir, 'cifar-10-batches-bin'));
    checkSamples(dir, 'train', 25, (i) => [Math.floor(i / 5), i % 5], binPixel, binLabel);
    checkSamples(join(dir, 'cifar-10-batches-bin'), 'test', 5, (i) => [5, i], binPixel, binLabel);
  });
});

test('cifar10 python version as Python 2 cPickle writes it (BINSTRING payload, str keys)', () => {
  withDir((dir) => {
    writePy2(join(dir, 'cifar-10-batches-py'), 4);
    checkSamples(dir, 'train', 20, (i) => [Math.floor(i / 4), i % 4], binPixel, binLabel);
    checkSamples(dir, 'test', 4, (i) => [5, i], binPixel, binLabel);
  });
});

test('cifar10 python version pickled by numpy from Python 3 (fixtures/cifar10-py)', () => {
  // fixtures/generate_cifar10_py.py: 1 record per training batch, 3 in the test batch.
  const pixel = (f: number, r: number, p: number): number => (p < 32 ? 128 + ((p * 5 + f + r) % 128) : (p * 7 + f * 31 + r * 13) % 128);
  const label = (f: number, r: number): number => (f * 3 + r * 7 + 1) % 10;
  const dir = join(ROOT, 'fixtures', 'cifar10-py');
  checkSamples(dir, 'train', 5, (i) => [i, 0], pixel, label);
  checkSamples(dir, 'test', 3, (i) => [5, i], pixel, label);
});

test('cifar10 errors: no files, missing and truncated batches, bad labels', () => {
  withDir((dir) => {
    assert.throws(() => loadCifar10(dir, 'train'), {
      message: `cifar10: no CIFAR-10 files in ${dir} (expected data_batch_1.bin ... or the python version data_batch_1 ...)`,
    });
    writeFileSync(join(dir, 'data_batch_1.bin'), binaryBatch(0, 2));
    writeFileSync(join(dir, 'data_batch_2.bin'), binaryBatch(1, 2));
    assert.throws(() => loadCifar10(dir, 'train'), { message: `cifar10: ${join(dir, 'data_batch_3.bin')} is missing` });
    writeFileSync(join(dir, 'data_batch_3.bin'), Buffer.alloc(1000));
    assert.throws(() => loadCifar10(dir, 'train'), {
      message: `cifar10: ${join(dir, 'data_batch_3.bin')} is truncated: 1000 bytes is not a whole number of 3073-byte records`,
    });
    const bad = binaryBatch(5, 3);
    bad[2 * 3073] = 10;
    writeFileSync(join(dir, 'test_batch.bin'), bad);
    assert.throws(() => loadCifar10(dir, 'test'), {
      message: `cifar10: ${join(dir, 'test_batch.bin')} record 2 has label 10 (expected 0..9)`,
    });
  });
  withDir((dir) => {
    writeFileSync(join(dir, 'test_batch'), py2Batch(5, 3).subarray(0, 5000));
    assert.throws(() => loadCifar10(dir, 'test'), /^Error: cifar10: .*test_batch: pickle: truncated at byte/);
    assert.throws(() => loadCifar10(dir, 'train'), { message: `cifar10: ${join(dir, 'data_batch_1')} is missing` });
  });
});

test('the pickle reader refuses globals other than numpy array reconstruction', () => {
  // cos\nsystem\n (U'ls' TUPLE1) REDUCE: what a malicious "data set" would contain.
  const evil = Buffer.concat([Buffer.from([0x80, 2]), Buffer.from('cos\nsystem\nq\x00U\x02lsq\x01\x85R.', 'latin1')]);
  assert.throws(() => parsePickle(evil), { message: 'refusing to load pickle global os.system' });
  // Protocol 4 STACK_GLOBAL builtins.eval.
  const evil4 = Buffer.concat([
    Buffer.from([0x80, 4, 0x8c, 8]),
    Buffer.from('builtins'),
    Buffer.from([0x8c, 4]),
    Buffer.from('eval'),
    Buffer.from([0x93, 0x8c, 1]),
    Buffer.from('1'),
    Buffer.from([0x85, 0x52, 0x2e]),
  ]);
  assert.throws(() => parsePickle(evil4), { message: 'refusing to load pickle global builtins.eval' });
  withDir((dir) => {
    writeFileSync(join(dir, 'test_batch'), evil);
    assert.throws(() => loadCifar10(dir, 'test'), {
      message: `cifar10: ${join(dir, 'test_batch')}: refusing to load pickle global os.system`,
    });
  });
  assert.throws(() => parsePickle(Buffer.from([0x80, 2, 0xff])), /unsupported opcode 0xff/);
});

test('the pickle reader decodes protocol 2 scalars, containers and memo references', () => {
  const p = new Py2Pickler();
  p.dict([
    ['neg', () => p.int(-5)],
    ['big', () => p.op(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1)], // LONG1 2**64
    ['f', () => p.op(0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)], // BINFLOAT 1.5
    ['none', () => p.op(0x4e)],
    ['t', () => p.op(0x88, 0x89, 0x86)], // (True, False)
    ['e', () => p.op(0x29)],
    ['u', () => p.op(0x58, 2, 0, 0, 0, 0xc3, 0xa9)], // BINUNICODE 'é'
    ['latin', () => p.str('\xe9', false)],
    ['again', () => p.op(0x68, 1)], // BINGET 1: the dict itself is memo 1
  ]);
  const d = parsePickle(p.bytes()) as Map<string, unknown>;
  assert.equal(d.get('neg'), -5);
  assert.equal(d.get('big'), 2n ** 64n);
  assert.equal(d.get('f'), 1.5);
  assert.equal(d.get('none'), null);
  assert.deepEqual(d.get('t'), [true, false]);
  assert.deepEqual(d.get('e'), []);
  assert.equal(d.get('u'), 'é');
  assert.equal(d.get('latin'), 'é');
  assert.equal(d.get('again'), d);
  const arr = new Py2Pickler().uint8Array(new Uint8Array([0, 200, 255, 7, 8, 9]), [2, 3]).bytes();
  const a = parsePickle(arr);
  assert.ok(a instanceof NdArray);
  assert.deepEqual(a.shape, [2, 3]);
  assert.equal(a.dtype, 'u1');
  assert.deepEqual([...a.data], [0, 200, 255, 7, 8, 9]);
});
