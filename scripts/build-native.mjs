// Builds the libtorch addon during `npm ci`. Checks for libtorch first so a missing
// install is reported in one sentence, not as a compiler trace.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.env.LIBTORCH;
const header = root
  ? join(root, 'include', 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h')
  : '/usr/include/torch/csrc/api/include/torch/torch.h';
if (!existsSync(header)) {
  const where = root ? `in LIBTORCH=${root} (no ${header})` : 'on this machine';
  console.error(
    `sauron: libtorch was not found ${where}: install it with \`apt-get install libtorch-dev\` ` +
      '(Debian/Ubuntu), or download libtorch and set LIBTORCH to its folder, then run `npm ci` again.',
  );
  process.exit(1);
}
const withCuda = !!root && existsSync(join(root, 'lib', 'libtorch_cuda.so'));
// Debian's libtorch does its matrix products in whatever libblas.so.3 the system's alternatives
// name, by default the unoptimised reference BLAS. The addon links BLIS's copy (Debian's
// libblis4-openmp) ahead of libtorch, so libtorch binds to it: about 2x faster steps for the
// small CNN, and unlike OpenBLAS a row's result does not depend on its batch or the thread
// count (test/unit/blas.test.ts; docs/performance.md, "BLAS"). The system's setting is left alone.
const blis = root ? '' : blisDir();
if (!root && !blis) {
  console.error('sauron: BLIS was not found (Debian: apt-get install libblis4-openmp); matrix products use the system BLAS.');
}
process.env.SAURON_BLIS_DIR = blis;
// oneDNN's headers (Debian's libdnnl-dev) for the convolution stack (native/convStack.cc), which
// calls the oneDNN that Debian's libtorch links. Another libtorch bundles its own copy, whose
// symbols the addon cannot count on: there the stack is libtorch's ops, as without the headers.
const dnnlHeader = '/usr/include/dnnl.hpp';
const dnnl = !root && existsSync(dnnlHeader);
if (!root && !dnnl) {
  console.error("sauron: oneDNN's headers were not found (Debian: apt-get install libdnnl-dev); convolution stacks run layer by layer.");
}
process.env.SAURON_DNNL = dnnl ? '1' : '0';
if (withCuda) console.error(`sauron: building against the CUDA libtorch in ${root}`);

// `npx sauron` in a checkout installs the checkout as a dependency, which reruns this script:
// a build of the same sources against the same libtorch is skipped (SAURON_REBUILD=1 forces one).
const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const addon = join(pkgDir, 'build', 'Release', 'sauron_native.node');
const stampFile = join(pkgDir, 'build', 'Release', 'build-stamp.json');
const stamp = buildStamp();
if (process.env.SAURON_REBUILD !== '1' && existsSync(addon) && readStamp() === stamp) {
  console.error('sauron: the libtorch addon is up to date (SAURON_REBUILD=1 rebuilds it)');
  process.exit(0);
}
rmSync(stampFile, { force: true });

// Under npm, npm names its bundled node-gyp; run by hand, look for the same copy.
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
const r = gyp && process.env.SAURON_BUILD !== 'gxx' ? buildWithGyp(gyp) : await buildWithGxx();
if (r.error || r.status !== 0) {
  console.error('sauron: building the libtorch addon failed (see the compiler output above).');
  process.exit(r.status || 1);
}
writeFileSync(stampFile, `${JSON.stringify({ stamp }, null, 1)}\n`);

// A hash of everything the build reads: the sources, the build files, the settings, the
// N-API headers, and the libtorch headers' version and library file it compiles and links against.
function buildStamp() {
  const h = createHash('sha256');
  const files = [
    ...readdirSync(join(pkgDir, 'native'))
      .filter((f) => /\.(cc|h)$/.test(f))
      .sort()
      .map((f) => join(pkgDir, 'native', f)),
    join(pkgDir, 'binding.gyp'),
    fileURLToPath(import.meta.url),
    header.replace(/torch\.h$/, 'version.h'),
    dnnlHeader,
  ];
  for (const f of files) h.update(`${f}\0`).update(existsSync(f) ? readFileSync(f) : 'absent');
  const lib = root ? join(root, 'lib', 'libtorch_cpu.so') : `/usr/lib/${multiarch()}/libtorch_cpu.so`;
  if (existsSync(lib)) {
    const real = realpathSync(lib);
    const st = statSync(real);
    h.update(`${real}\0${st.size}\0${st.mtimeMs}\0`);
  }
  const settings = ['LIBTORCH', 'SAURON_BUILD', 'SAURON_CXX_STD', 'SAURON_CXX11_ABI', 'SAURON_NO_GLOO', 'SAURON_NODE_HEADERS', 'CXX'];
  for (const k of settings) h.update(`${k}=${process.env[k] ?? ''}\0`);
  const napiHeaders = createRequire(import.meta.url)('node-addon-api/package.json').version;
  h.update(`blis=${blis}\0dnnl=${dnnl}\0napi=${process.versions.napi}\0node-addon-api=${napiHeaders}\0${process.arch}`);
  return h.digest('hex');
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8')).stamp;
  } catch {
    return undefined;
  }
}

function multiarch() {
  return { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', ppc64: 'powerpc64le-linux-gnu', s390x: 's390x-linux-gnu' }[process.arch];
}

function blisDir() {
  const arch = multiarch();
  const dir = arch ? `/usr/lib/${arch}/blis-openmp` : '';
  return dir && existsSync(join(dir, 'libblas.so.3')) ? dir : '';
}

function buildWithGyp(gyp) {
  const args = ['rebuild', '--release', `-j${process.env.JOBS ?? 'max'}`];
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  return spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
}

// Without node-gyp (a machine with a PyTorch installation but no npm): the same flags as
// binding.gyp, g++ called directly. It needs only the N-API headers: SAURON_NODE_HEADERS names
// their folder when /usr/include/node is absent.
async function buildWithGxx() {
  const here = dirname(fileURLToPath(import.meta.url));
  const pkg = join(here, '..');
  const cxx = process.env.CXX ?? 'g++';
  const nodeHeaders = process.env.SAURON_NODE_HEADERS ?? '/usr/include/node';
  if (!existsSync(join(nodeHeaders, 'node_api.h'))) {
    console.error(`sauron: no N-API headers in ${nodeHeaders}: set SAURON_NODE_HEADERS to a folder holding node_api.h.`);
    process.exit(1);
  }
  const require = createRequire(import.meta.url);
  const napi = require('node-addon-api').include_dir;
  const inc = root
    ? [join(root, 'include'), join(root, 'include', 'torch', 'csrc', 'api', 'include')]
    : ['/usr/include', '/usr/include/torch/csrc/api/include'];
  const lib = root
    ? [`-L${join(root, 'lib')}`, `-Wl,-rpath,${join(root, 'lib')}`]
    : blis
      ? [`-L${blis}`, `-Wl,-rpath,${blis}`, '-Wl,--no-as-needed', '-lblas', '-Wl,--as-needed']
      : [];
  // binding.gyp's list, so that the two builds compile the same files
  const gypSources = JSON.parse(readFileSync(join(pkg, 'binding.gyp'), 'utf8')).targets[0].sources;
  const sources = gypSources.map((f) => f.replace(/^native\//, '').replace(/\.cc$/, ''));
  const out = join(pkg, 'build', 'Release', 'sauron_native.node');
  const objDir = join(pkg, 'build', 'Release', 'obj.gxx');
  mkdirSync(objDir, { recursive: true });
  const std = process.env.SAURON_CXX_STD ?? 'c++17';
  const flags = [
    `-std=${std}`,
    '-O2',
    '-fopenmp',
    '-fPIC',
    '-fexceptions',
    '-frtti',
    '-Wno-deprecated-declarations',
    '-DNAPI_VERSION=8',
    '-DNAPI_CPP_EXCEPTIONS',
    `-D_GLIBCXX_USE_CXX11_ABI=${process.env.SAURON_CXX11_ABI ?? '1'}`,
    ...(withCuda ? ['-DSAURON_WITH_CUDA'] : []),
    // SAURON_NO_GLOO=1: build the collectives as stubs (for a libtorch whose c10d headers do not compile here)
    ...(process.env.SAURON_NO_GLOO === '1' ? ['-DSAURON_NO_GLOO'] : []),
    ...(dnnl ? ['-DSAURON_DNNL'] : []),
    `-I${napi}`,
    `-I${nodeHeaders}`,
    ...inc.map((d) => `-I${d}`),
  ];
  console.error(`sauron: compiling the addon with ${cxx} (${std}), ${sources.length} files in parallel`);
  // Each file including torch headers takes long to compile: all at once, then one link.
  const jobs = sources.map(
    (f) =>
      new Promise((resolve) => {
        const child = spawn(cxx, [...flags, '-c', join(pkg, 'native', `${f}.cc`), '-o', join(objDir, `${f}.o`)], { stdio: 'inherit' });
        child.on('error', (error) => resolve({ error }));
        child.on('close', (status) => resolve({ status }));
      }),
  );
  const results = await Promise.all(jobs);
  const failed = results.find((r) => r.error || r.status !== 0);
  if (failed) return failed;
  return spawnSync(
    cxx,
    [
      '-shared',
      ...sources.map((f) => join(objDir, `${f}.o`)),
      '-o',
      out,
      ...lib,
      ...(withCuda ? ['-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed'] : []),
      '-ltorch',
      '-ltorch_cpu',
      '-lc10',
      ...(dnnl ? ['-ldnnl'] : []),
    ],
    { stdio: 'inherit' },
  );
}
