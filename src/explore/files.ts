// Which files the server may send: the pages and the vendored chart libraries it ships with,
// and files inside the folders it was given, checked after resolving every symlink so that
// neither `..` nor a link can reach outside them.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The static pages: `explorer/` at the package root (two levels above src/explore and dist/explore). */
export const UI_DIR = resolve(HERE, '..', '..', 'explorer');

export const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.csv': 'text/csv; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
};

export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** The file `rel` names under `root`, or null when it is not a file inside root (after symlinks). */
export function fileInside(root: string, rel: string): string | null {
  if (rel.includes('\0')) return null;
  const realRoot = realpathSync(root);
  const p = resolve(realRoot, rel.replace(/^\/+/, ''));
  if (!p.startsWith(realRoot + sep)) return null;
  if (!existsSync(p)) return null;
  const real = realpathSync(p);
  if (!real.startsWith(realRoot + sep) || !statSync(real).isFile()) return null;
  return real;
}

function packageDir(name: string): string {
  for (let d = HERE; ; d = dirname(d)) {
    const p = join(d, 'node_modules', name);
    if (existsSync(join(p, 'package.json'))) return p;
    if (dirname(d) === d) throw new Error(`${name} is not installed (npm install)`);
  }
}

/** The chart libraries, served from node_modules so the pages work offline. */
export const VENDOR: Record<string, () => string> = {
  'vega.min.js': () => join(packageDir('vega'), 'build', 'vega.min.js'),
  'vega-lite.min.js': () => join(packageDir('vega-lite'), 'build', 'vega-lite.min.js'),
  'vega-embed.min.js': () => join(packageDir('vega-embed'), 'build', 'vega-embed.min.js'),
};
