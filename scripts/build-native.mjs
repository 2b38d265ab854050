// Builds the libtorch addon during `npm ci`. Checks for libtorch first so a missing
// install is reported in one sentence, not as a compiler trace.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';

const root = process.env.LIBTORCH;
const header = root ? join(root, 'include', 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h')
  : '/usr/include/torch/csrc/api/include/torch/torch.h';
if (!existsSync(header)) {
  const where = root ? `in LIBTORCH=${root} (no ${header})` : 'on this machine';
  console.error(`sauron: libtorch was not found ${where}: install it with \`apt-get install libtorch-dev\` ` +
    '(Debian/Ubuntu), or download libtorch and set LIBTORCH to its folder, then run `npm ci` again.');
  process.exit(1);
}
const args = ['rebuild', '--release', `-j${process.env.JOBS ?? 'max'}`];
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
// Under npm, npm names its bundled node-gyp; run by hand, look for the same copy.
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
const r = gyp ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit' });
if (r.error || r.status !== 0) {
  console.error('sauron: building the libtorch addon failed (see the compiler output above).');
  process.exit(r.status || 1);
}
