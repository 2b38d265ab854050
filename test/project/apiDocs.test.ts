// The API reference: TypeDoc over the package's entry points (typedoc.json: the root and every
// subpath of package.json "exports") must run without a warning, so every exported symbol is
// documented, every type a signature names is exported, and every {@link} resolves. Run with
// `--emit none` (validation only); `npm run docs:api` writes the HTML into docs/api.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/helpers.js';

const TYPEDOC = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
const config = JSON.parse(readFileSync(join(ROOT, 'typedoc.json'), 'utf8'));

function typedoc(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [TYPEDOC, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the terminal's colour codes, which start with ESC
  return { status: r.status, output: (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '') };
}

test('typedoc.json documents exactly the entry points package.json exports', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const exported = Object.entries(pkg.exports as Record<string, string | { types: string; import: string }>)
    .filter(([k]) => k !== './package.json')
    .map(([k, v]) => {
      assert.equal(typeof v, 'object', `${k}: conditions with "types" and "import"`);
      const entry = v as { types: string; import: string };
      assert.equal(entry.types, entry.import.replace(/\.js$/, '.d.ts'), `${k}: the types sit beside the code`);
      assert.match(entry.import, /^\.\/dist\/.*\.js$/, k);
      return entry.import.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
    });
  assert.deepEqual([...config.entryPoints].sort(), exported.sort());
  assert.equal(config.treatWarningsAsErrors, true);
  for (const v of ['notExported', 'invalidLink', 'notDocumented']) assert.equal(config.validation?.[v], true, `validation.${v}`);
  for (const k of ['Function', 'Class', 'Interface', 'TypeAlias', 'Variable']) assert.ok(config.requiredToBeDocumented.includes(k), k);
});

test('TypeDoc runs over the public API without a warning', () => {
  const r = typedoc(ROOT, ['--emit', 'none']);
  assert.doesNotMatch(r.output, /\[(warning|error)\]/, r.output.slice(-6000));
  assert.equal(r.status, 0, r.output.slice(-6000));
});

test('the same validation fails on an undocumented export and on a broken link', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-apidocs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: [] },
      files: ['index.ts'],
    }),
  );
  const { entryPoints: _, out: __, tsconfig: ___, intentionallyNotExported: ____, ...rest } = config;
  writeFileSync(join(dir, 'typedoc.json'), JSON.stringify({ ...rest, entryPoints: ['index.ts'], tsconfig: 'tsconfig.json' }));
  const documented = '/** Twice `x`. */\nexport function twice(x: number): number { return 2 * x; }\n';
  writeFileSync(join(dir, 'index.ts'), documented);
  const good = typedoc(dir, ['--emit', 'none']);
  assert.equal(good.status, 0, good.output);
  writeFileSync(join(dir, 'index.ts'), `${documented}export function thrice(x: number): number { return 3 * x; }\n`);
  const undocumented = typedoc(dir, ['--emit', 'none']);
  assert.notEqual(undocumented.status, 0);
  assert.match(undocumented.output, /thrice.*does not have any documentation/);
  writeFileSync(
    join(dir, 'index.ts'),
    `${documented}/** Three times \`x\`, as {@link nowhere}. */\nexport function thrice(x: number): number { return 3 * x; }\n`,
  );
  const broken = typedoc(dir, ['--emit', 'none']);
  assert.notEqual(broken.status, 0);
  assert.match(broken.output, /nowhere/);
});
