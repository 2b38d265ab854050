// The package as a user gets it: packed from a clean copy of this checkout (what git tracks or
// would track, dist/ compiled by the package's `prepare`), installed into a fresh TypeScript
// project, where its `install` script builds the addon, then typechecked against the package's
// `exports` and run. The install builds the addon from scratch: minutes, by design.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Under `npm test` npm exports its own settings (npm_config_local_prefix names this repo):
// the nested npm must act on the temp folders alone. The cache and user config stay.
const KEEP = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_registry', 'npm_config_nodedir']);
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || KEEP.has(k.toLowerCase())));
delete ENV.SAURON_ADDON; // the consumer must load the addon its own install built

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', maxBuffer: 256 << 20 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stdout + r.stderr).slice(-6000)}`);
  return r.stdout;
}

// The consumer pins the package's dependencies to this repo's lockfile, each with its registry
// tarball and integrity, so that `npm install --offline` takes them from the cache the repo's own
// `npm ci` filled. Without a lockfile npm 11 asks the registry for each new dependency's full
// metadata, which `npm ci` never caches (it reads the abbreviated form): ENOTCACHED offline.
function consumerFiles(dir: string, tgz: string, registry: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const tools = ['node_modules/typescript', 'node_modules/@types/node', 'node_modules/undici-types'];
  const spec = `file:${tgz}`;
  const root = {
    name: 'consumer',
    version: '1.0.0',
    dependencies: { sauron: spec },
    devDependencies: {
      typescript: lock.packages['node_modules/typescript'].version,
      '@types/node': lock.packages['node_modules/@types/node'].version,
    },
  };
  const packages: Record<string, unknown> = {
    '': root,
    'node_modules/sauron': {
      version: pkg.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`,
      hasInstallScript: true,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [key, entry] of Object.entries(
    lock.packages as Record<string, { dev?: boolean; name?: string; version: string; resolved?: string }>,
  )) {
    if (!key || (entry.dev && !tools.includes(key))) continue;
    const name = entry.name ?? key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[key] = { ...entry, resolved: entry.resolved ?? `${registry}${name}/-/${name.split('/').pop()}-${entry.version}.tgz` };
  }
  // The one step a user takes for the addon build (docs/getting-started.md, "Using Sauron in your project").
  const allowScripts = { [spec]: true };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...root, private: true, type: 'module', allowScripts }, null, 2));
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', types: ['node'] },
      files: ['main.ts'],
    }),
  );
  writeFileSync(join(dir, 'main.ts'), CONSUMER);
}

// Strict, without skipLibCheck: an untyped import (TS7016) or a broken .d.ts fails the typecheck.
const CONSUMER = `import { join } from 'node:path';
import { createModel, delta, Generator, loadFashionMnist, noGrad, saveModel, scope, startExplorer, type ImageClassifier } from 'sauron';
import { zeros } from 'sauron/tensor';
import { Linear } from 'sauron/nn';

const test = loadFashionMnist('test');
const model: ImageClassifier = createModel(
  { arch: 'small-cnn', inputShape: test.imageShape, numClasses: test.classNames.length, normalization: test.normalization },
  { generator: new Generator(0) });
model.eval();
const d = scope(() => noGrad(() => {
  const { images } = test.loadSync([0, 1, 2, 3]);
  const { logits, features } = model.forward(images);
  const all = delta(logits, features, model.classifier.weight);
  return { shape: all.shape, finite: all.isfinite().sum().item() };
}));
const linear = scope(() => {
  const layer = new Linear(3, 2, { generator: new Generator(0) });
  const shape = layer.forward(zeros([4, 3])).shape;
  layer.dispose();
  return shape;
});
const dir = process.argv[2]!; // a folder for the explorer to scan
saveModel(join(dir, 'run'), model);
const ex = await startExplorer({ folders: [dir], port: 0 });
const served: Record<string, number> = {};
for (const path of ['/', '/ui/app.js', '/vendor/vega.min.js']) served[path] = (await fetch(new URL(path, ex.url))).status;
await ex.close();
const shapes = { classes: test.classNames.length, features: model.classifier.weight.shape[1], ...d, linear };
console.log(JSON.stringify({ ...shapes, models: ex.explorer.models.size, served }));
`;

test('the packed tarball installs into a TypeScript project, builds the addon, typechecks and runs', (t) => {
  const listed = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT);
  if (listed.status !== 0)
    return t.skip(`not a git checkout (${listed.stderr.trim()}): the clean copy to pack is made from git's file list`);
  const tmp = mkdtempSync(join(tmpdir(), 'sauron-package-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const logs = `--logs-dir=${join(tmp, 'npm-logs')}`;

  // 1. Pack a clean copy: no build/, dist/ or runs/ from this working tree can leak in.
  const checkout = join(tmp, 'checkout');
  for (const f of listed.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, f))) continue; // deleted in the working tree, not yet in git
    mkdirSync(dirname(join(checkout, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(checkout, f));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir'); // tsc for `prepare`
  ok(run('npm', ['pack', '--pack-destination', tmp, logs], checkout), 'npm pack');
  const tgz = join(tmp, readdirSync(tmp).find((f) => /^sauron-.*\.tgz$/.test(f))!);

  // 2. What it holds: what a user needs, none of the tests, fixtures or benchmarks.
  const entries = ok(run('tar', ['-tzf', tgz], tmp), 'tar -tzf')
    .split('\n')
    .filter(Boolean)
    .map((e) => e.replace(/^package\//, ''));
  for (const dir of ['test/', 'fixtures/', 'bench/', 'src/', 'build/', 'runs/', 'node_modules/']) {
    assert.deepEqual(
      entries.filter((e) => e.startsWith(dir)),
      [],
      `the tarball holds ${dir}`,
    );
  }
  assert.deepEqual(
    entries.filter((e) => e.endsWith('.map')),
    [],
    'source maps point at src/, which is not shipped',
  );
  const gyp = JSON.parse(readFileSync(join(checkout, 'binding.gyp'), 'utf8'));
  // data/ and explorer/ are read at run time relative to the package root: all of them.
  const runtime = ['data', 'explorer'].flatMap((d) =>
    readdirSync(join(checkout, d), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(checkout, join(e.parentPath, e.name))),
  );
  const needed = [
    'package.json',
    'README.md',
    'LICENSE',
    'bin/sauron.js',
    'binding.gyp',
    'scripts/build-native.mjs',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'data/fashion-mnist/t10k-images-idx3-ubyte.gz',
    ...runtime,
    ...(gyp.targets[0].sources as string[]),
    ...readdirSync(join(checkout, 'native'))
      .filter((f) => f.endsWith('.h'))
      .map((f) => `native/${f}`),
  ];
  for (const f of needed) assert.ok(entries.includes(f), `the tarball lacks ${f}`);
  t.diagnostic(`tarball: ${entries.length} files, ${(readFileSync(tgz).length / 1e6).toFixed(1)} MB`);

  // 3. Install into a fresh project: the package's `install` builds the addon; `prepare` (tsc,
  // a devDependency) must not run, dist/ is in the tarball.
  const consumer = join(tmp, 'consumer');
  mkdirSync(consumer);
  const registry = ok(run('npm', ['config', 'get', 'registry'], consumer), 'npm config get registry')
    .trim()
    .replace(/\/?$/, '/');
  consumerFiles(consumer, tgz, registry);
  const start = Date.now();
  const install = run(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', '--strict-allow-scripts', logs],
    consumer,
  );
  ok(install, 'npm install of the tarball');
  t.diagnostic(`npm install (the addon build included): ${((Date.now() - start) / 1000).toFixed(0)} s`);
  assert.match(install.stdout, /sauron@[^\s]+ install/);
  assert.doesNotMatch(install.stdout + install.stderr, /sauron@[^\s]+ prepare/);
  assert.ok(existsSync(join(consumer, 'node_modules', 'sauron', 'build', 'Release', 'sauron_native.node')), 'the install built no addon');

  // 4. Typecheck and run the consumer's program.
  ok(run(process.execPath, [join(consumer, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer], consumer), 'tsc in the consumer');
  mkdirSync(join(tmp, 'explored'));
  const out = JSON.parse(
    ok(run(process.execPath, [join(consumer, 'out', 'main.js'), join(tmp, 'explored')], consumer), 'the consumer program'),
  );
  assert.equal(out.classes, 10);
  assert.deepEqual(out.shape, [out.features, 4], 'Delta is [features, inputs]');
  assert.ok(out.finite >= 0 && out.finite <= out.features * 4);
  assert.deepEqual(out.linear, [4, 2], 'sauron/nn over sauron/tensor: [4, 3] -> [4, 2]');
  assert.equal(out.models, 1);
  assert.deepEqual(out.served, { '/': 200, '/ui/app.js': 200, '/vendor/vega.min.js': 200 });

  // 5. The command, and the ESM-only entry point.
  assert.match(ok(run('npx', ['--offline', 'sauron', '--help'], consumer), 'npx sauron --help'), /Usage: sauron/);
  const cjs = run(process.execPath, ['-e', "try { require('sauron'); console.log('loaded') } catch (e) { console.log(e.code) }"], consumer);
  assert.equal(cjs.stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  // what no entry exports stays internal: files under dist/ are not importable by path
  const deep = run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "try { await import('sauron/dist/experiments/index.js'); console.log('loaded') } catch (e) { console.log(e.code) }",
    ],
    consumer,
  );
  assert.equal(deep.stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED', deep.stderr);
});
