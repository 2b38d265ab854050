// The house style, kept by tools rather than by review: Biome's formatter and linter
// (biome.jsonc) with zero findings, no line over 160 columns (the formatter wraps code at 140;
// strings and comments, which it leaves alone, get 20 more), and small source files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAX_COLUMNS = 160;
const MAX_SOURCE_LINES = 300;
// the tensor class binds every libtorch op the toolkit uses: one concept, many methods
const LONG_FILES_ALLOWED = new Set(['src/tensor/tensor.ts']);

function tracked(...dirs: string[]): string[] {
  const r = spawnSync('git', ['ls-files', '--', ...dirs], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((f) => /\.(ts|mjs|js)$/.test(f));
}

test('biome ci: the formatter and the linter find nothing', () => {
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'biome'), ['ci', '--colors=off', '--max-diagnostics=50', '.'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.error, undefined, `biome did not start: ${r.error?.message} (npm ci installs it)`);
  assert.equal(
    r.status,
    0,
    `biome ci found problems (fix them, or run npx biome format --write . for formatting):\n${r.stdout}${r.stderr}`,
  );
});

test(`no line over ${MAX_COLUMNS} columns in the TypeScript and JavaScript files`, () => {
  const files = tracked('src', 'test', 'bench', 'scripts', 'examples', 'bin', 'explorer');
  assert.ok(files.length > 200, `expected the repository's source files, found ${files.length}`);
  const long = files.flatMap((f) =>
    readFileSync(join(ROOT, f), 'utf8')
      .split('\n')
      .flatMap((line, i) => (line.length > MAX_COLUMNS ? [`${f}:${i + 1} (${line.length} columns)`] : [])),
  );
  assert.deepEqual(long, [], `lines over ${MAX_COLUMNS} columns:\n${long.join('\n')}`);
});

test(`no file in src/ over ${MAX_SOURCE_LINES} lines (one concept a file)`, () => {
  const files = tracked('src');
  assert.ok(files.length > 100, `expected the source files, found ${files.length}`);
  const big = files.flatMap((f) => {
    const lines = readFileSync(join(ROOT, f), 'utf8').trimEnd().split('\n').length;
    return lines > MAX_SOURCE_LINES && !LONG_FILES_ALLOWED.has(f) ? [`${f}: ${lines} lines`] : [];
  });
  assert.deepEqual(big, [], `split these files:\n${big.join('\n')}`);
});
