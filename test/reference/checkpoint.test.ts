// torch.save checkpoints read by Sauron's own reader (src/serialization: zip, allowlist
// pickle, storage views) against what PyTorch and torchvision saved and computed
// (fixtures/generate_checkpoints.py), and hostile files refused with one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCheckpoint, loadModel, scope, type Tensor } from '../../src/index.js';
import { liveTensors } from '../../src/tensor/index.js';
import { loadSafetensors } from '../../src/serialization/index.js';
import { readTorchCheckpoint, forEachTensor, TorchTensor } from '../../src/serialization/torchCheckpoint.js';
import { ZipArchive } from '../../src/serialization/zip.js';
import { unpickle } from '../../src/serialization/pickle.js';
import { TorchResolver } from '../../src/serialization/torchPickle.js';
import { pickStateDict } from '../../src/models/convert.js';
import { ROOT, relErr } from '../support/helpers.js';
import { sauron } from '../support/cli.js';

const FX = join(ROOT, 'fixtures', 'checkpoints');
const HOSTILE = join(FX, 'hostile');
const fx = loadSafetensors(join(FX, 'checkpoints.safetensors')).tensors;
for (const t of fx.values()) t.keep();
const get = (k: string): Tensor => fx.get(k)!;
// torchvision's ResNet-18 at 1/64 width takes its inputs as they are
const OPTS = {
  arch: 'resnet18-imagenet',
  inputShape: [3, 32, 32] as [number, number, number],
  normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
};

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-ckpt-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("checkpoints as torch.save writes them convert and give torchvision's logits", () => {
  const before = liveTensors();
  const cases: [string, string, string[]][] = [
    ['plain.pt', 'logits', []],
    ['training.pt', 'logits', ["reading the state dict under 'model'"]],
    ['wrapped.pt', 'logits', ["reading the state dict under 'state_dict'"]],
    ['dataparallel.pt', 'logits', []],
    ['legacy.pt', 'logits', []],
    ['half.pt', 'logits_float16', ['converted 102 float16 tensors to float32']],
    ['bf16.pt', 'logits_bfloat16', ['converted 102 bfloat16 tensors to float32']],
  ];
  for (const [file, ref, notes] of cases) {
    const heard: string[] = [];
    const m = convertCheckpoint(join(FX, file), { ...OPTS, onNote: (l) => heard.push(l) });
    try {
      assert.deepEqual(heard, notes, file);
      assert.equal(m.config.width, 1 / 64, file);
      m.eval();
      scope(() => {
        const err = relErr(m.forward(get('input')).logits, get(ref));
        assert.ok(err < 1e-4, `${file}: relative error ${err}`);
      });
    } finally {
      m.dispose();
    }
  }
  assert.equal(liveTensors(), before);
});

test('shared storages and strided views read the values PyTorch saved; deflate and zip64 too', () => {
  const a = readTorchCheckpoint(readFileSync(join(FX, 'views.pt'))) as Map<string, TorchTensor>;
  const zipped = readFileSync(join(FX, 'views_deflated_zip64.pt'));
  // the end record with its fields saturated, as past 65535 entries or 4 GiB: the zip64 record is read
  const forced = Buffer.from(zipped);
  const eocd = forced.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
  forced.writeUInt16LE(0xffff, eocd + 8);
  forced.writeUInt16LE(0xffff, eocd + 10);
  forced.writeUInt32LE(0xffffffff, eocd + 12);
  forced.writeUInt32LE(0xffffffff, eocd + 16);
  assert.equal(new ZipArchive(zipped).entries.get('views/data.pkl')!.method, 8);
  const files = [a, readTorchCheckpoint(zipped), readTorchCheckpoint(forced)] as Map<string, TorchTensor>[];
  for (const f of files) {
    assert.deepEqual([...f.keys()], ['w', 'rows', 'strided', 't', 'corner', 'h', 'b16', 'd', 'n', 'mask', 'scalar']);
    for (const [k, t] of f) {
      scope(() => {
        const got = t.load();
        const want = get(`views.${k}`);
        assert.deepEqual(got.shape, want.shape, k);
        assert.equal(got.dtype, k === 'n' ? 'int64' : k === 'mask' ? 'bool' : 'float32', k);
        if (k === 'n') assert.deepEqual([...got.toArray<'int64'>()], [...want.toArray<'int64'>()], k);
        else assert.deepEqual(got.toFloat32Array(), want.toFloat32Array(), k);
      });
    }
  }
  // stride 0 repeats values (expand()), within a bound: a few bytes cannot claim gigabytes
  const w = a.get('w')!;
  assert.equal(new TorchTensor(w.storage, 0, [3, 24], [0, 1]).problem(), null);
  assert.equal(
    new TorchTensor(w.storage, 0, [2 ** 20, 2 ** 20], [0, 0]).problem(),
    'size [1048576, 1048576], stride [0, 0], offset 0 repeats the 24 values of its storage into 1099511627776 (at most 67108864)',
  );
  // one storage behind w and its views, read once
  assert.equal(a.get('rows')!.storage, a.get('w')!.storage);
  assert.equal(a.get('t')!.storage, a.get('w')!.storage);
  assert.notEqual(a.get('h')!.storage, a.get('w')!.storage);
});

test('the state dict inside a training checkpoint: automatic pick, --key, and errors naming the keys', () => {
  const training = readTorchCheckpoint(readFileSync(join(FX, 'training.pt')));
  const heard: string[] = [];
  assert.equal(
    pickStateDict(training, 'training.pt', 'model', (l) => heard.push(l)),
    (training as Map<string, unknown>).get('model'),
  );
  assert.deepEqual(heard, ["reading the state dict under 'model'"]);
  assert.throws(() => pickStateDict(training, 'training.pt', 'nope'), {
    message: "training.pt has no top-level entry 'nope' (its top-level keys: 'model', 'optimizer', 'epoch')",
  });
  assert.throws(() => pickStateDict(training, 'training.pt', 'optimizer'), {
    message: "training.pt: 'optimizer' holds a dict of 2 entries and no tensors (its top-level keys: 'model', 'optimizer', 'epoch')",
  });
  const unusual = join(FX, 'unusual_key.pt');
  assert.throws(() => convertCheckpoint(unusual, OPTS), {
    message: `${unusual} has no state dict (its top-level keys: 'ema', 'epoch'): name the entry that holds the weights with --key`,
  });
  assert.throws(
    () => convertCheckpoint(unusual, { ...OPTS, key: 'ema' }),
    /unusual_key\.pt has no classifier weight \(looked for classifier\/fc\/linear\.weight among w\)$/,
  );
  const two = join(FX, 'two_state_dicts.pt');
  assert.throws(() => convertCheckpoint(two, OPTS), { message: `${two} holds several state dicts (model, net): choose one with --key` });
  const views = readTorchCheckpoint(readFileSync(join(FX, 'views.pt')));
  assert.equal(pickStateDict(views, 'views.pt'), views, 'a dict of tensors is the state dict itself');
});

// Each hostile file and the problem its one-line error must name.
const HOSTILE_CASES: Record<string, RegExp> = {
  'os_system.pt':
    /refusing to load pickle global os\.system: Sauron reads checkpoints as data \(only tensors, dicts, lists, tuples and numbers\)$/,
  'builtins_eval.pt': /refusing to load pickle global builtins\.eval: Sauron reads checkpoints as data/,
  'whole_module.pt': /refusing to load pickle global torch\.nn\.modules\.linear\.Linear: .*save model\.state_dict\(\) instead$/,
  'oversize_view.pt':
    /tensor 'w': size \[3, 5\], stride \[4, 1\], offset 0 reaches value 13 of a storage that holds 12 \(record archive\/data\/0\)$/,
  'short_record.pt': /storage record archive\/data\/0 holds 10 float32 values, the pickle declares 12$/,
  'ragged_record.pt': /storage record archive\/data\/0 holds 47 bytes, not a whole number of 4-byte float32 values$/,
  'negative_stride.pt': /tensor 'w': size \[3, 4\], stride \[-4, 1\], offset 8: negative sizes, strides or offsets are not allowed$/,
  'negative_offset.pt': /tensor 'w': size \[2, 4\], stride \[4, 1\], offset -4: negative sizes, strides or offsets are not allowed$/,
  'missing_record.pt': /storage '0' has no record archive\/data\/0 in the archive$/,
  'storage_two_types.pt': /storage '0' is declared twice, as 12 float32 and as 6 float64 values$/,
  'truncated_zip.pt': /zip: no end-of-central-directory record: the archive is truncated or damaged/,
  'central_directory_outside.pt': /zip: the central directory \(bytes \d+\.\.\d+\) lies outside the file/,
  'duplicate_entry.pt': /zip: the entry archive\/data\/0 appears twice$/,
};

test('hostile checkpoints are refused with one line naming the file and the problem', () => {
  const before = liveTensors();
  assert.deepEqual(readdirSync(HOSTILE).sort(), Object.keys(HOSTILE_CASES).sort(), 'every hostile fixture has a case');
  for (const [file, problem] of Object.entries(HOSTILE_CASES)) {
    const path = join(HOSTILE, file);
    assert.throws(
      () => convertCheckpoint(path, OPTS),
      (e: Error) => {
        assert.ok(e.message.startsWith(`${path}: `), e.message);
        assert.match(e.message, problem);
        assert.ok(!e.message.includes('\n'), e.message);
        return true;
      },
      file,
    );
  }
  withDir((dir) => {
    const junk = join(dir, 'junk.pt');
    writeFileSync(junk, 'not a checkpoint');
    assert.throws(() => convertCheckpoint(junk, OPTS), {
      message: `${junk}: not a PyTorch checkpoint (neither a torch.save zip archive nor the legacy pickle format)`,
    });
    const script = join(ROOT, 'fixtures', 'torchscript', 'ts_tuple.pt');
    assert.throws(() => convertCheckpoint(script, OPTS), {
      message: `${script}: not a PyTorch checkpoint (torch.save file) but a TorchScript model (torch.jit.save): pass it to --model as it is`,
    });
    // damage inside a valid archive: a flipped byte in a record, a central entry whose local
    // header or data lie outside the entries
    const views = readFileSync(join(FX, 'views.pt'));
    const entry = new ZipArchive(views).entries.get('views/data/0')!;
    const central = views.indexOf(Buffer.from('PK\x01\x02', 'latin1'));
    const patched = (edit: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(views);
      edit(b);
      return b;
    };
    const damaged: [Buffer, RegExp][] = [
      [
        patched((b) => {
          b[entry.dataOffset + 5]! ^= 1;
        }),
        /: zip: views\/data\/0 is damaged \(its CRC-32 does not match\)$/,
      ],
      [
        patched((b) => b.writeUInt32LE(central - 10, central + 42)),
        /: zip: views\/data\.pkl: its local header at byte \d+ is missing or outside the file$/,
      ],
      [
        patched((b) => {
          b.writeUInt32LE(1e6, central + 20);
          b.writeUInt32LE(1e6, central + 24);
        }),
        /: zip: views\/data\.pkl: its 1000000 bytes at byte \d+ run past the entries/,
      ],
    ];
    for (const [bytes, problem] of damaged) {
      writeFileSync(junk, bytes);
      assert.throws(() => convertCheckpoint(junk, OPTS), problem);
    }
    // a pickle of something else
    writeFileSync(junk, Buffer.from('\x80\x02cos\nsystem\n.', 'latin1'));
    assert.throws(() => convertCheckpoint(junk, OPTS), {
      message: `${junk}: a pickle but not a torch.save file (no PyTorch magic number)`,
    });
    // the legacy format cut inside its storages
    const legacy = readFileSync(join(FX, 'legacy.pt'));
    writeFileSync(junk, legacy.subarray(0, legacy.length - 100));
    assert.throws(
      () => convertCheckpoint(junk, OPTS),
      /^Error: .*junk\.pt: legacy format: storage '\d+' needs \d+ bytes at byte \d+, the file has \d+$/,
    );
  });
  assert.equal(liveTensors(), before);
});

test("the pickle machine: torch.save's opcodes, the allowlist, and nothing run", () => {
  const r = () => new TorchResolver((k) => `data/${k}`);
  // protocol 4 with FRAME, MEMOIZE, SHORT_BINUNICODE, EMPTY_SET/ADDITEMS, FROZENSET, LONG4, BINUNICODE8, DUP, POP
  const p = Buffer.concat([
    Buffer.from([0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from('}\x94(', 'latin1'),
    Buffer.from([0x8c, 1]),
    Buffer.from('s'),
    Buffer.from([0x8f, 0x94, 0x28, 0x4b, 1, 0x4b, 2, 0x90]),
    Buffer.from([0x8c, 1]),
    Buffer.from('f'),
    Buffer.from([0x28, 0x4b, 3, 0x91]),
    Buffer.from([0x8c, 1]),
    Buffer.from('l'),
    Buffer.from([0x8b, 3, 0, 0, 0, 0xff, 0xff, 0x7f]),
    Buffer.from([0x8c, 1]),
    Buffer.from('u'),
    Buffer.from([0x8d, 2, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from('hi'),
    Buffer.from([0x8c, 1]),
    Buffer.from('d'),
    Buffer.from([0x4e, 0x32, 0x30]),
    Buffer.from('u.', 'latin1'),
  ]);
  const d = unpickle(p, r()).value as Map<string, unknown>;
  assert.deepEqual(d.get('s'), [1, 2]);
  assert.deepEqual(d.get('f'), [3]);
  assert.equal(d.get('l'), 0x7fffff);
  assert.equal(d.get('u'), 'hi');
  assert.equal(d.get('d'), null);
  // torch.Size, torch.device, a dtype and bytes; a set through builtins.set (Python 2's name)
  const q = Buffer.from(
    '\x80\x02(ctorch\nSize\nK\x02K\x03\x86\x85Rctorch\ndevice\nX\x03\x00\x00\x00cpu\x85Rctorch\nfloat16\n' +
      'c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86Rc__builtin__\nset\n]K\x07a\x85Rt.',
    'latin1',
  );
  const [size, device, dtype, bytes, set] = unpickle(q, r()).value as unknown[];
  assert.deepEqual(size, [2, 3]);
  assert.equal(device, 'cpu');
  assert.equal((dtype as { qualified: string }).qualified, 'torch.float16');
  assert.deepEqual([...(bytes as Uint8Array)], [255]);
  assert.deepEqual(set, [7]);
  const refuse = (src: string, re: RegExp) => assert.throws(() => unpickle(Buffer.from(src, 'latin1'), r()), re);
  refuse('\x80\x02c__builtin__\nfrozenset\n]\x85R.', /refusing to load pickle global builtins\.frozenset/);
  refuse('\x80\x02cposix\nsystem\nX\x01\x00\x00\x00x\x85R.', /refusing to load pickle global posix\.system/);
  refuse('\x80\x02ctorch\nfloat16\n)R.', /pickle: cannot call torch\.float16/);
  refuse('\x80\x02}}b.', /BUILD is only allowed on an OrderedDict/);
  refuse('\x80\x02)K\x01a.', /APPEND on something that is not a list/);
  refuse('\x80\x02X\x01\x00\x00\x00xQ.', /a persistent id other than a storage/);
  refuse('\x80\x02(X\x07\x00\x00\x00storagectorch\nComplexFloatStorage\n', /refusing to load pickle global torch\.ComplexFloatStorage/);
  refuse('\x80\x02K\x01K\x02.', /stack not empty at STOP/);
  refuse('\x80\x02h\x05.', /memo key 5 is not defined/);
  refuse('\x80\x02X\xff\xff\xff\x00ab', /truncated at byte 7/);
  refuse('\x80\x05\x97.', /unsupported opcode 0x97/);
  // a few bytes nest lists deeper than any checkpoint: the walk stops with a message, not a stack overflow
  const deep = unpickle(
    Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(5000, ']'), Buffer.alloc(4999, 'a'), Buffer.from('.')]),
    r(),
  ).value;
  assert.throws(() => forEachTensor(deep, () => {}), /^Error: containers nested more than 1000 deep \(at '0\.0\.0/);
  // the tensors of a checkpoint carry their path in error messages and in forEachTensor
  const paths: string[] = [];
  forEachTensor(readTorchCheckpoint(readFileSync(join(FX, 'training.pt'))), (path) => paths.push(path));
  assert.equal(paths[0], 'model.conv1.weight');
  assert.equal(paths.length, 122);
});

test('sauron convert: a training checkpoint becomes a run folder; hostile files leave no folder', () => {
  withDir((dir) => {
    const out = join(dir, 'run');
    const c = sauron([
      'convert',
      '--from',
      join(FX, 'training.pt'),
      '--arch',
      'resnet18-imagenet',
      '--input',
      '3x32x32',
      '--mean',
      '0,0,0',
      '--std',
      '1,1,1',
      '--out',
      out,
    ]);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stderr, /sauron: reading the state dict under 'model'/);
    const { model } = loadModel(out);
    try {
      model.eval();
      scope(() => assert.ok(relErr(model.forward(get('input')).logits, get('logits')) < 1e-4));
    } finally {
      model.dispose();
    }
    // one file per kind of check (every file's message is checked through the library above;
    // the command runs the same reader before it creates anything): each CLI run costs seconds
    for (const file of ['os_system.pt', 'oversize_view.pt', 'short_record.pt', 'missing_record.pt', 'truncated_zip.pt']) {
      const path = join(HOSTILE, file);
      const dest = join(dir, file);
      const r = sauron(['convert', '--from', path, '--arch', 'resnet18-imagenet', '--out', dest]);
      assert.equal(r.status, 1, `${file}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(r.stderr.startsWith(`sauron: ${path}: `), r.stderr);
      assert.match(r.stderr.trim(), HOSTILE_CASES[file]!);
      assert.equal(existsSync(dest), false, `${file}: no output folder`);
    }
  });
});
