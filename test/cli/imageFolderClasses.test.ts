// --classes: a folder holding some of a model's classes evaluates against the whole model,
// labelled by the list's positions; the shipped ImageNet list; empty and unknown class folders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createModel, saveModel, scope } from '../../src/index.js';
import { loadNpy } from '../../src/serialization/index.js';
import { loadImageFolder } from '../../src/data/imageFolder.js';
import { parseClassList, readClassList } from '../../src/data/classList.js';
import { sauron } from '../support/cli.js';

function oneLine(stderr: string): string {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('(run with --help'));
  assert.equal(lines.length, 1, stderr);
  assert.doesNotMatch(lines[0]!, /TypeError|\bat .*:\d+/);
  return lines[0]!;
}

/** A small noise image, different for every (seed, pixel). */
async function writeImage(file: string, seed: number, size = 24): Promise<void> {
  mkdirSync(join(file, '..'), { recursive: true });
  const px = Buffer.alloc(size * size * 3);
  for (let i = 0; i < px.length; i++) px[i] = (Math.imul((i * 2654435761) ^ (seed * 40503), 2246822519) >>> 23) & 255;
  await sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(file);
}

const root = mkdtempSync(join(tmpdir(), 'sauron-classes-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

// ten classes, deliberately listed out of sorted order so that labels follow the list, not the folders
const CLASSES = ['k7', 'k2', 'k9', 'k0', 'k5', 'k1', 'k8', 'k3', 'k6', 'k4'];
const SOME = ['k2', 'k5', 'k8'];

test('a folder of three classes gives the rows of the full folder restricted to them, labelled by the list', async () => {
  const full = join(root, 'full');
  for (const [k, c] of CLASSES.entries()) for (let j = 0; j < 2; j++) await writeImage(join(full, c, `img${j}.png`), 10 * k + j);
  const some = join(root, 'some');
  for (const c of SOME) cpSync(join(full, c), join(some, c), { recursive: true });
  const list = join(root, 'classes.txt');
  writeFileSync(list, `# the model's classes\n\n${CLASSES.join('\n')}\n`);

  const model = createModel({ arch: 'resnet18-imagenet', inputShape: [3, 224, 224], numClasses: 10, width: 1 / 16 });
  const run = join(root, 'run');
  try {
    saveModel(run, model, { dataset: 'imagenet' });
  } finally {
    model.dispose();
  }
  // without the list, the three folders do not fit the ten-class model, and the message says what to do
  const refused = sauron(['eval', '--model', run, '--data', some]);
  assert.notEqual(refused.status, 0);
  assert.match(oneLine(refused.stderr), /the model has 10 classes, imagenet has 3 .*--classes/);

  const outs: Record<string, string> = {};
  for (const [name, data] of [
    ['full', full],
    ['some', some],
  ] as const) {
    outs[name] = join(root, `sens-${name}`);
    const r = sauron([
      'sensitivity',
      '--model',
      run,
      '--data',
      data,
      '--classes',
      list,
      '--stats-split',
      'test',
      '--batch-size',
      '8',
      '--out',
      outs[name]!,
    ]);
    assert.equal(r.status, 0, r.stderr);
  }
  scope(() => {
    const labelsFull = loadNpy(join(outs.full!, 'labels.npy')).toNumbers();
    const labelsSome = loadNpy(join(outs.some!, 'labels.npy')).toNumbers();
    // labels are list positions: the folder k5 is class 4, whatever the sorted folder names say
    assert.deepEqual(
      labelsFull,
      [...CLASSES].sort().flatMap((c) => [CLASSES.indexOf(c), CLASSES.indexOf(c)]),
    );
    const wanted = SOME.map((c) => CLASSES.indexOf(c));
    assert.deepEqual(
      labelsSome,
      wanted.flatMap((k) => [k, k]),
    );
    const rows = labelsFull.flatMap((l, i) => (wanted.includes(l) ? [i] : []));
    assert.equal(rows.length, 6);
    for (const file of ['logits.npy', 'features.npy', 'predictions.npy']) {
      const a = loadNpy(join(outs.full!, file));
      const b = loadNpy(join(outs.some!, file));
      const width = a.shape.length === 2 ? a.shape[1]! : 1;
      const fa = a.toNumbers();
      const fb = b.toNumbers();
      assert.equal(fb.length, rows.length * width, file);
      rows.forEach((r, k) =>
        assert.deepEqual(fb.slice(k * width, (k + 1) * width), fa.slice(r * width, (r + 1) * width), `${file} row ${k}`),
      );
    }
    // Delta is [features, inputs]: columns
    const da = loadNpy(join(outs.full!, 'deltas.npy'));
    const db = loadNpy(join(outs.some!, 'deltas.npy'));
    const [f, n] = da.shape as [number, number];
    const xa = da.toNumbers();
    const xb = db.toNumbers();
    for (let i = 0; i < f; i++) rows.forEach((r, k) => assert.equal(xb[i * rows.length + k], xa[i * n + r], `Delta ${i}, input ${k}`));
  });
  // the list is part of the result's recorded settings
  const manifest = JSON.parse(readFileSync(join(outs.some!, 'sauron-output.json'), 'utf8'));
  assert.equal(manifest.settings.classes, list);

  // a run folder that recorded its classes labels the folder by them without --classes
  const named = join(root, 'run-named');
  cpSync(run, named, { recursive: true });
  const m = JSON.parse(readFileSync(join(named, 'model.json'), 'utf8'));
  writeFileSync(join(named, 'model.json'), JSON.stringify({ ...m, classNames: CLASSES }));
  const evals = [
    ['--model', run, '--classes', list],
    ['--model', named],
  ].map((args) => {
    const r = sauron(['eval', ...args, '--data', some]);
    assert.equal(r.status, 0, r.stderr);
    const { model: _, ...rest } = JSON.parse(r.stdout);
    return rest;
  });
  assert.deepEqual(evals[1], evals[0]);
  assert.deepEqual(
    evals[0].perClass.map((c: { class: string }) => c.class),
    CLASSES,
  );
  assert.equal(evals[0].count, 6);
});

test('the shipped ImageNet list: 1000 unique WordNet ids in sorted order', () => {
  const { names, source } = readClassList('imagenet');
  assert.match(source, /imagenet-classes\.txt$/);
  assert.equal(names.length, 1000);
  assert.equal(new Set(names).size, 1000);
  for (const n of names) assert.match(n, /^n\d{8}$/);
  for (let i = 1; i < names.length; i++) assert.ok(names[i - 1]! < names[i]!, `${names[i - 1]} before ${names[i]}`);
  assert.equal(names[0], 'n01440764');
  assert.equal(names[999], 'n15075141');
});

test('class lists: comments and blank lines skipped, duplicates and non-folder names refused, missing files named', () => {
  assert.deepEqual(parseClassList('# header\n\n a \r\nb\n  # indented comment\nc\n', 'l.txt').names, ['a', 'b', 'c']);
  assert.throws(() => parseClassList('a\nb\n\na\n', 'l.txt'), { message: "l.txt:4: class 'a' is listed twice (first on line 1)" });
  assert.throws(() => parseClassList('a/b\n', 'l.txt'), /l\.txt:1: 'a\/b' is not a folder name/);
  assert.throws(() => parseClassList('# nothing\n\n', 'l.txt'), /l\.txt: no class names/);
  assert.throws(() => readClassList(join(root, 'nope.txt')), /--classes: .*nope\.txt does not exist/);
});

test('empty class folders are refused unless the list names them; folders outside the list are refused', async () => {
  const dir = join(root, 'empty');
  await writeImage(join(dir, 'a', '1.png'), 1);
  await writeImage(join(dir, 'c', '1.png'), 2);
  mkdirSync(join(dir, 'b'));
  writeFileSync(join(dir, 'b', 'notes.txt'), 'not an image');
  assert.throws(() => loadImageFolder(dir, 'test', { imageSize: 8, resize: 8 }), {
    message: `imagenet: class folder ${join(dir, 'b')} holds no JPEG or PNG images: remove it, or pass --classes FILE listing the model's classes`,
  });
  // listed: b is class 1 with no images, d has no folder at all
  const ds = loadImageFolder(dir, 'test', { imageSize: 8, resize: 8, classes: { source: 'l.txt', names: ['a', 'b', 'c', 'd'] } });
  assert.deepEqual(ds.classNames, ['a', 'b', 'c', 'd']);
  assert.deepEqual([ds.label(0), ds.label(1)], [0, 2]);
  assert.throws(() => loadImageFolder(dir, 'test', { classes: { source: 'l.txt', names: ['a', 'c'] } }), {
    message: `imagenet: ${dir} has a class folder not among the classes of l.txt: b`,
  });
  // through the CLI, with nothing written
  const model = createModel({ arch: 'resnet18-imagenet', inputShape: [3, 224, 224], numClasses: 3, width: 1 / 16 });
  const run = join(root, 'run3');
  try {
    saveModel(run, model, { dataset: 'imagenet' });
  } finally {
    model.dispose();
  }
  const out = join(root, 'eval-empty');
  const r = sauron(['eval', '--model', run, '--data', dir, '--out', out]);
  assert.notEqual(r.status, 0);
  assert.match(oneLine(r.stderr), /class folder .*\/b holds no JPEG or PNG images/);
  assert.ok(!existsSync(out));
});
