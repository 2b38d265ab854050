// Files from users are data: every hostile file the campaign of issue 29 found gives one line
// naming the file and the field, never a hang, a memory blow-up, a JS internal message or a
// silently wrong number, and a command that meets one writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createModel, saveModel } from '../../src/index.js';
import { decodeSafetensors, loadNpy, loadSafetensors, saveNpyArray } from '../../src/serialization/index.js';
import { loadImageFolder } from '../../src/data/imageFolder.js';
import { parseIndices } from '../../src/data/registry.js';
import { loadModel, readManifest } from '../../src/models/runFolder.js';
import { readOutputManifest } from '../../src/serialization/outputDir.js';
import { readRegularFile, readRegularFileAsync } from '../../src/serialization/regularFile.js';
import { sauron } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'sauron-hostile-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** A message fit for a user: one line, no JS internals, no stack frames. */
function assertLine(message: string, want: RegExp | string): void {
  assert.ok(!message.includes('\n'), `more than one line: ${message}`);
  assert.doesNotMatch(
    message,
    /TypeError|RangeError|is not a function|Cannot (read|destructure)|Invalid typed array|\bat \S+ \(|\bat .*:\d+:\d+/,
  );
  if (typeof want === 'string') assert.equal(message, want);
  else assert.match(message, want);
}

function throwsLine(fn: () => unknown, want: RegExp | string): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `no error; expected ${want}`);
  assertLine(caught.message, want);
}

async function rejectsLine(p: Promise<unknown>, want: RegExp | string): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assertLine(e.message, want);
    return true;
  });
}

/** A command that failed on a hostile file: non-zero, one line, and nothing left where it would have written. */
function failsCleanly(args: string[], out: string, want: RegExp): void {
  const r = sauron([...args, '--out', out], { timeout: 120_000 });
  assert.notEqual(r.status, 0, r.stdout);
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('(run with --help'));
  assert.equal(lines.length, 1, r.stderr);
  assertLine(lines[0]!, want);
  assert.ok(!existsSync(out), `${out} was written`);
  const parent = join(out, '..');
  const leftovers = readdirSync(parent).filter((f) => f.startsWith(`.${out.slice(parent.length + 1)}.`));
  assert.deepEqual(leftovers, [], 'no staging folder or lock left beside the output');
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function writePng(file: string, size = 8): Promise<void> {
  mkdirSync(join(file, '..'), { recursive: true });
  await sharp(Buffer.alloc(size * size * 3, 90), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(file);
}

function saveRun(dir: string, arch: string, inputShape: [number, number, number], dataset: string): void {
  const m = createModel({ arch, inputShape, numClasses: 10, width: arch === 'small-cnn' ? 0.25 : 1 / 16 });
  try {
    saveModel(dir, m, { dataset });
  } finally {
    m.dispose();
  }
}

const fmRun = join(root, 'fm-run');
const folderRun = join(root, 'folder-run');
test.before(() => {
  saveRun(fmRun, 'small-cnn', [1, 28, 28], 'fashion-mnist');
  saveRun(folderRun, 'resnet18-imagenet', [3, 224, 224], 'imagenet');
});

test('an image named x.jpg linking to /dev/zero is refused when the folder is listed, also through the CLI', async () => {
  const dir = join(root, 'devzero');
  await writePng(join(dir, 'cls', 'good.png'));
  symlinkSync('/dev/zero', join(dir, 'cls', 'x.jpg'));
  const want = new RegExp(`^imagenet: ${esc(join(dir, 'cls', 'x.jpg'))} is a symlink to /dev/zero, outside the data folder `);
  throwsLine(() => loadImageFolder(dir, 'test'), want);
  failsCleanly(
    ['eval', '--model', folderRun, '--data', dir],
    join(root, 'devzero-out'),
    /x\.jpg is a symlink to \/dev\/zero, outside the data folder/,
  );
});

test('links inside the data folder are followed; links leaving it and link loops are not', async () => {
  const dir = join(root, 'links');
  const outside = join(root, 'outside.png');
  await writePng(join(dir, 'a', 'real.png'));
  await writePng(outside);
  symlinkSync(join(dir, 'a', 'real.png'), join(dir, 'a', 'same.png'));
  symlinkSync('..', join(dir, 'a', 'loop'));
  const ds = loadImageFolder(dir, 'test', { imageSize: 8, resize: 8 });
  assert.deepEqual(
    ds.files.map((f) => f.slice(dir.length + 1)),
    ['a/real.png', 'a/same.png'],
  );
  const b = await ds.load([1]);
  b.images.dispose();
  b.labels.dispose();
  symlinkSync(outside, join(dir, 'a', 'elsewhere.png'));
  throwsLine(() => loadImageFolder(dir, 'test'), new RegExp(`elsewhere\\.png is a symlink to ${esc(outside)}, outside the data folder`));
  rmSync(join(dir, 'a', 'elsewhere.png'));
  symlinkSync('/', join(dir, 'rootfs'));
  throwsLine(() => loadImageFolder(dir, 'test'), /rootfs is a symlink to \/, outside the data folder/);
});

test('a FIFO named x.jpg is refused without being opened', async (t) => {
  const dir = join(root, 'fifo');
  await writePng(join(dir, 'cls', 'good.png'));
  const made = spawnSync('mkfifo', [join(dir, 'cls', 'x.jpg')]);
  if (made.status !== 0) return t.skip('mkfifo is not available');
  throwsLine(() => loadImageFolder(dir, 'test'), `imagenet: ${join(dir, 'cls', 'x.jpg')} is a FIFO (named pipe), not a regular file`);
  failsCleanly(
    ['eval', '--model', folderRun, '--data', dir],
    join(root, 'fifo-out'),
    /x\.jpg is a FIFO \(named pipe\), not a regular file/,
  );
  // any JSON Sauron reads, too
  const run = join(root, 'fifo-run');
  mkdirSync(run);
  spawnSync('mkfifo', [join(run, 'model.json')]);
  throwsLine(() => readManifest(run), `${join(run, 'model.json')} is a FIFO (named pipe), not a regular file`);
});

test('an image over the size cap is refused with its size', async () => {
  const dir = join(root, 'big');
  await writePng(join(dir, 'cls', 'big.png'), 64);
  const ds = loadImageFolder(dir, 'test', { imageSize: 8, resize: 8, maxFileBytes: 100 });
  await rejectsLine(ds.load([0]), new RegExp(`^imagenet: ${esc(join(dir, 'cls', 'big.png'))} is \\d+ bytes, over the limit of 100 bytes$`));
});

test('a file that grows past the cap while it is read is caught (at most cap + 1 bytes are read)', async (t) => {
  // /proc files say they hold 0 bytes and then deliver more: what a file growing after the size check looks like
  if (!existsSync('/proc/self/status')) return t.skip('no /proc here');
  throwsLine(() => readRegularFile('/proc/self/status', 16), '/proc/self/status grew past the limit of 16 bytes while it was read');
  await rejectsLine(readRegularFileAsync('/proc/self/status', 16), '/proc/self/status grew past the limit of 16 bytes while it was read');
  // under the cap, the buffer grows from the stated 0 bytes to the whole file
  const whole = readRegularFile('/proc/self/status', 1 << 20).toString('latin1');
  assert.match(whole, /^Name:/);
  assert.match(whole, /\nPid:\s+\d+/);
  assert.equal((await readRegularFileAsync('/proc/self/status', 1 << 20)).toString('latin1').slice(0, 5), 'Name:');
});

test('--indices: ranges checked against the data set before anything is expanded', () => {
  throwsLine(
    () => parseIndices('0-4000000000', { size: 10000 }),
    '--indices: 0-4000000000 is outside 0..9999 (the data set has 10000 rows)',
  );
  throwsLine(() => parseIndices('5,0-4000000000'), /^--indices: 5,0-4000000000 selects more than 10000000 positions$/);
  throwsLine(
    () => parseIndices(Array(1001).fill('0-9999').join(','), { size: 10000 }),
    /^--indices: 0-9999,0-9999,.*\.\.\. selects more than 10000000 positions$/,
  );
  throwsLine(() => parseIndices('7-3'), '--indices: range 7-3 runs backwards');
  throwsLine(() => parseIndices('1-2-3'), "--indices: '1-2-3' is not an index or a range like 10-19");
  throwsLine(() => parseIndices('-4'), "--indices: '-4' is not an index or a range like 10-19");
  throwsLine(() => parseIndices('99999999999999999999'), "--indices: '99999999999999999999' is too large to be a position");
  throwsLine(() => parseIndices(' , '), '--indices is empty');
  assert.deepEqual(parseIndices('3, 0-2,9', { size: 10 }), [3, 0, 1, 2, 9]);
  failsCleanly(
    ['eval', '--model', fmRun, '--indices', '0-4000000000'],
    join(root, 'indices-out'),
    /^sauron: --indices: 0-4000000000 is outside 0\.\.9999 \(the data set has 10000 rows\)$/,
  );
});

/** A run folder whose model.json is the saved one changed by `edit`. */
function runWith(name: string, edit: (m: Record<string, unknown>) => unknown): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const m = JSON.parse(readFileSync(join(fmRun, 'model.json'), 'utf8'));
  writeFileSync(join(dir, 'model.json'), typeof edit === 'function' ? JSON.stringify(edit(m) ?? m) : '');
  writeFileSync(join(dir, 'model.safetensors'), readFileSync(join(fmRun, 'model.safetensors')));
  return dir;
}

test('a model.json without normalization is refused (it would evaluate raw pixels), through the CLI too', () => {
  const run = runWith('no-norm', (m) => {
    delete m.normalization;
  });
  const file = join(run, 'model.json');
  const want = `${file}: normalization: expected {"mean": [...], "std": [...]} or null (no normalisation), got nothing (the field is missing)`;
  throwsLine(() => loadModel(run), want);
  failsCleanly(['eval', '--model', run], join(root, 'no-norm-out'), new RegExp(`^sauron: ${esc(want)}$`));
  // said explicitly, no normalisation is the identity
  const plain = runWith('null-norm', (m) => {
    m.normalization = null;
  });
  const { model } = loadModel(plain);
  try {
    assert.deepEqual(model.config.normalization, { mean: [0], std: [1] });
  } finally {
    model.dispose();
  }
});

test('malformed model.json fields: one line naming the field, what was expected and what was found', () => {
  const cases: [string, (m: Record<string, unknown>) => unknown, string][] = [
    [
      'input shape a string',
      (m) => {
        m.inputShape = 'abc';
      },
      'inputShape: expected [channels, height, width], got "abc"',
    ],
    [
      'input shape short',
      (m) => {
        m.inputShape = [1, 28];
      },
      'inputShape: expected [channels, height, width], got an array of 2 items',
    ],
    [
      'input shape zero',
      (m) => {
        m.inputShape = [1, 0, 28];
      },
      'inputShape[1]: expected a positive integer, got 0',
    ],
    [
      'classes negative',
      (m) => {
        m.numClasses = -1;
      },
      'numClasses: expected a positive integer, got -1',
    ],
    [
      'classes fractional',
      (m) => {
        m.numClasses = 2.5;
      },
      'numClasses: expected a positive integer, got 2.5',
    ],
    [
      'mean per channel',
      (m) => {
        m.normalization = { mean: [0.1, 0.2], std: [0.3] };
      },
      'normalization.mean: expected 1 value (one per input channel), got an array of 2 items',
    ],
    [
      'std not positive',
      (m) => {
        m.normalization = { mean: [0.1], std: [0] };
      },
      'normalization.std[0]: expected a positive number, got 0',
    ],
    [
      'normalization a number',
      (m) => {
        m.normalization = 3;
      },
      'normalization: expected {"mean": [...], "std": [...]} or null (no normalisation), got 3',
    ],
    [
      'mean strings',
      (m) => {
        m.normalization = { mean: ['x'], std: [1] };
      },
      'normalization.mean[0]: expected a number, got "x"',
    ],
    [
      'unknown architecture',
      (m) => {
        m.arch = 'vgg99';
      },
      /^arch: expected one of vgg11, .*small-cnn, got "vgg99"$/.source,
    ],
    [
      'not a manifest',
      (m) => {
        m.format = 'other';
      },
      'format: expected "sauron-model" (a Sauron model manifest), got "other"',
    ],
    [
      'class names',
      (m) => {
        m.classNames = ['a'];
      },
      'classNames: expected 10 names (numClasses), got an array of 1 item',
    ],
    [
      'unknown data set',
      (m) => {
        m.dataset = 'mnist';
      },
      'dataset: expected one of "fashion-mnist", "cifar10", "imagenet", got "mnist"',
    ],
    ['top level array', () => [1, 2], 'top level: expected an object, got an array of 2 items'],
  ];
  for (const [name, edit, tail] of cases) {
    const run = runWith(`bad-${name.replace(/ /g, '-')}`, edit);
    const prefix = esc(`${join(run, 'model.json')}: `);
    throwsLine(() => loadModel(run), new RegExp(`^${prefix}${tail.startsWith('^') ? tail.slice(1) : `${esc(tail)}$`}`));
  }
  const broken = runWith('broken-json', (m) => m);
  writeFileSync(join(broken, 'model.json'), '{"format": "sauron-model",');
  throwsLine(() => loadModel(broken), new RegExp(`^${esc(join(broken, 'model.json'))}: not valid JSON \\(`));
  failsCleanly(
    [
      'eval',
      '--model',
      runWith('cli-bad', (m) => {
        m.inputShape = 'abc';
      }),
    ],
    join(root, 'bad-out'),
    /model\.json: inputShape: expected \[channels, height, width\], got "abc"$/,
  );
});

/** safetensors bytes: the 8-byte length (or the one given), the header text, then `data` bytes. */
function st(header: unknown, data = 0, declared?: bigint): Uint8Array {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declared ?? BigInt(h.length));
  return Buffer.concat([len, h, Buffer.alloc(data)]);
}

test('malformed safetensors headers: one line naming the file and the field', () => {
  const w = (o: Record<string, unknown>) => ({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...o } });
  const cases: [Uint8Array, string | RegExp][] = [
    [new Uint8Array(5), 'm.st is not a valid safetensors file: shorter than its 8-byte header length (5 bytes)'],
    [st({}, 0, 1n << 62n), /^m\.st is not a valid safetensors file: header length 4611686018427387904 exceeds the file size \(10 bytes\)$/],
    [st('', 0, 0n), 'm.st is not a valid safetensors file: header length 0 is outside 2..100000000'],
    [st('{"w": ', 8), 'm.st is not a valid safetensors file: header is not JSON'],
    [st([1]), 'm.st: top level: expected an object, got an array of 1 item'],
    [st({ w: null }, 8), 'm.st: w: expected an object, got null'],
    [st(w({ dtype: 'F17' }), 8), /^m\.st: w\.dtype: expected one of F32, .*BOOL, got "F17"$/],
    [st(w({ shape: 5 }), 8), 'm.st: w.shape: expected an array, got 5'],
    [st(w({ shape: [-2] }), 8), 'm.st: w.shape[0]: expected a non-negative integer, got -2'],
    [st(w({ shape: [1.5] }), 8), 'm.st: w.shape[0]: expected a non-negative integer, got 1.5'],
    [st(w({ data_offsets: null }), 8), 'm.st: w.data_offsets: expected two byte offsets [begin, end], got null'],
    [st(w({ data_offsets: [0] }), 8), 'm.st: w.data_offsets: expected two byte offsets [begin, end], got an array of 1 item'],
    [st(w({ data_offsets: [0, 16] }), 8), 'm.st: w.data_offsets: expected offsets within the 8-byte data area, got [0, 16]'],
    [st(w({ data_offsets: [8, 0] }), 8), 'm.st: w.data_offsets: expected offsets within the 8-byte data area, got [8, 0]'],
    [st(w({ data_offsets: [0, 4] }), 8), 'm.st: w.data_offsets: expected 8 bytes for F32 [2], got [0, 4] (4 bytes)'],
    [st(w({ shape: [1] }), 8), 'm.st: w.data_offsets: expected 4 bytes for F32 [1], got [0, 8] (8 bytes)'],
    [st(w({ shape: [2 ** 40, 2 ** 40] }), 8), 'm.st: w.shape: expected a size that fits in memory, got [1099511627776, 1099511627776]'],
    [
      st({ ...w({}), v: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8),
      'm.st: v.data_offsets: expected bytes no other tensor uses, got [4, 8], overlapping w [0, 8]',
    ],
    [st({ ...w({}), __metadata__: { a: 1 } }, 8), 'm.st: __metadata__.a: expected a string, got 1'],
  ];
  for (const [bytes, want] of cases) throwsLine(() => decodeSafetensors(bytes, 'm.st'), want);
  // the good file these were made from reads
  const ok = decodeSafetensors(st({ ...w({}), e: { dtype: 'I64', shape: [0, 3], data_offsets: [8, 8] } }, 8), 'm.st');
  assert.deepEqual([...ok.tensors.keys()], ['w', 'e']);
  for (const t of ok.tensors.values()) t.dispose();
  // a weights file that is a link to /dev/zero is never read
  const link = join(root, 'zero.safetensors');
  symlinkSync('/dev/zero', link);
  throwsLine(() => loadSafetensors(link), `${link} is a character device, not a regular file`);
});

/** .npy bytes: magic, version, header length, header text, data. */
function npy(header: string, data = 0, version: [number, number] = [1, 0]): Buffer {
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = version[0];
  pre[7] = version[1];
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.alloc(data)]);
}

test('malformed .npy headers: one line naming the file and the field', () => {
  const h = (descr: string, fortran: string, shape: string) => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;
  const file = join(root, 'x.npy');
  const cases: [Buffer, string | RegExp][] = [
    [Buffer.alloc(0), 'magic: expected \\x93NUMPY (a .npy file), got 0 bytes'],
    [Buffer.from('PK\x03\x04 not numpy at all', 'latin1'), /^magic: expected \\x93NUMPY \(a \.npy file\), got "PK/],
    [npy(h('<f4', 'False', '(2,)'), 8, [9, 0]), 'version: expected 1.0, 2.0 or 3.0, got 9.0'],
    [
      npy(h('<f4', 'False', '(2,)')).subarray(0, 20),
      /^header length: expected a header inside the 20-byte file, got \d+ bytes from byte 10$/,
    ],
    [npy("{'descr': <f4, }\n"), /^header: expected a Python dict literal, got "\{'descr': <f4, \}" \(expected a value at character 10\)$/],
    [npy("__import__('os').system('true')\n"), /^header: expected a Python dict literal, got /],
    [npy(h('>f4', 'False', '(2,)'), 8), /^descr: expected one of <f4, .*, got ">f4"$/],
    [npy(h('<f4', 'True', '(2, 2)'), 16), 'fortran_order: expected False (C order; save with np.ascontiguousarray), got true'],
    [npy(h('<f4', 'False', '(-20, 784)'), 8), 'shape[0]: expected a non-negative integer, got -20'],
    [npy(h('<f4', 'False', "('a',)"), 8), 'shape[0]: expected a non-negative integer, got "a"'],
    [npy(h('<f4', 'False', '5'), 8), 'shape: expected a tuple of non-negative integers, got 5'],
    [
      npy("{'descr': '<f4', 'shape': (2,)}\n", 8),
      'fortran_order: expected False (C order; save with np.ascontiguousarray), got nothing (the field is missing)',
    ],
    [npy(h('<f4', 'False', '(3,)'), 8), 'data: expected 12 bytes for <f4 (3), got 8 (truncated)'],
    [npy(h('<f4', 'False', '(1,)'), 8), 'data: expected 4 bytes for <f4 (1), got 8'],
  ];
  for (const [bytes, want] of cases) {
    writeFileSync(file, bytes);
    throwsLine(() => loadNpy(file), typeof want === 'string' ? `${file}: ${want}` : new RegExp(`^${esc(file)}: ${want.source.slice(1)}`));
  }
  // numpy's own zero-row file reads as an empty array
  writeFileSync(file, npy(h('<f4', 'False', '(0, 3)')));
  const t = loadNpy(file);
  assert.deepEqual(t.shape, [0, 3]);
  t.dispose();
});

test('sauron eval --inputs with an empty or malformed .npy: one line, nothing written', () => {
  const empty = join(root, 'empty-inputs.npy');
  saveNpyArray(empty, new Float32Array(0), [0, 1, 28, 28], 'float32');
  failsCleanly(
    ['eval', '--model', fmRun, '--inputs', empty],
    join(root, 'empty-out'),
    new RegExp(`^sauron: ${esc(empty)}: shape: expected at least one image, got \\(0, 1, 28, 28\\)$`),
  );
  const negative = join(root, 'negative.npy');
  writeFileSync(negative, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-20, 1, 28, 28), }\n"));
  failsCleanly(
    ['eval', '--model', fmRun, '--inputs', negative],
    join(root, 'negative-out'),
    new RegExp(`^sauron: ${esc(negative)}: shape\\[0\\]: expected a non-negative integer, got -20$`),
  );
});

test('a damaged output manifest is named with its field', () => {
  const dir = join(root, 'damaged-output');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'sauron-output.json'),
    JSON.stringify({ kind: 'eval', command: 'x', settings: null, files: 'x', completed: 'now' }),
  );
  throwsLine(
    () => readOutputManifest(dir),
    `${join(dir, 'sauron-output.json')} is damaged (files: expected an array, got "x"); run the command again to rewrite ${dir}`,
  );
  writeFileSync(
    join(dir, 'sauron-output.json'),
    JSON.stringify({
      kind: 'eval',
      command: 'x',
      settings: null,
      completed: 'now',
      files: [{ name: '../../etc/passwd', bytes: 1, sha256: '0'.repeat(64) }],
    }),
  );
  throwsLine(
    () => readOutputManifest(dir),
    /is damaged \(files\[0\]\.name: expected a path inside the folder, got "\.\.\/\.\.\/etc\/passwd"\)/,
  );
});
