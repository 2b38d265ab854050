// The layering rules of docs/development.md, checked on the sources: imports run one
// way (down), and no two files import each other in a cycle. Type-only imports are exempt
// (they vanish at run time); the test lists the upward ones so they stay few and known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from '../support/helpers.js';

// Lowest first. Folders on one rank do not import each other.
const RANKS: Record<string, number> = {
  'native.ts': 0,
  'progress.ts': 0,
  tensor: 1,
  nn: 2,
  optim: 2,
  serialization: 3,
  reports: 4,
  data: 5,
  models: 6,
  analysis: 7,
  attacks: 8,
  training: 9,
  experiments: 10,
  reproduce: 11,
  explore: 12,
  cli: 13,
  'index.ts': 14,
};

// Upward type-only imports that remain, and why (kept in step with docs/development.md).
const ALLOWED_TYPE_ONLY = new Set<string>([]);

const SRC = join(ROOT, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function unit(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    const re = /^(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)';/gms;
    for (const m of text.matchAll(re)) {
      const target = resolve(dirname(f), m[3]!.replace(/\.js$/, '.ts'));
      // `import { type A, type B }` is type-only as well
      const names = /\{([^}]*)\}/.exec(m[0]!)?.[1];
      const allTypes =
        !!names &&
        names
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .every((s) => s.startsWith('type '));
      out.push({ from: f, to: target, typeOnly: !!m[2] || allTypes });
    }
  }
  return out;
}

test('imports run down the layers (type-only imports excepted and listed)', () => {
  const wrong: string[] = [];
  const typeOnly: string[] = [];
  for (const e of edges()) {
    const a = unit(e.from);
    const b = unit(e.to);
    if (a === b) continue;
    const ra = RANKS[a];
    const rb = RANKS[b];
    assert.ok(ra !== undefined && rb !== undefined, `no rank for ${a} or ${b}: add the folder to RANKS and docs/development.md`);
    if (rb < ra) continue;
    const line = `${relative(SRC, e.from)} -> ${relative(SRC, e.to)}`;
    if (e.typeOnly) typeOnly.push(line);
    else wrong.push(line);
  }
  assert.deepEqual(wrong, [], 'imports from a lower layer to a higher (or a sibling) one');
  assert.deepEqual(
    typeOnly.filter((l) => !ALLOWED_TYPE_ONLY.has(l)),
    [],
    'new upward type-only imports',
  );
});

test('no import cycle between files (type-only imports excepted)', () => {
  const graph = new Map<string, string[]>();
  for (const e of edges()) {
    if (e.typeOnly) continue;
    graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
  }
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const g of graph.get(f) ?? []) visit(g, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('only src/tensor and src/optim load the addon', () => {
  const users = edges()
    .filter((e) => !e.typeOnly && relative(SRC, e.to) === 'native.ts')
    .map((e) => unit(e.from));
  assert.deepEqual(
    [...new Set(users)].filter((u) => u !== 'tensor' && u !== 'optim'),
    [],
  );
});

test('every folder under src opens its index with a paragraph on what lives there and what it may import', () => {
  for (const d of readdirSync(SRC).filter((f) => statSync(join(SRC, f)).isDirectory())) {
    const text = readFileSync(join(SRC, d, 'index.ts'), 'utf8');
    const head = text
      .split('\n')
      .filter((l) => l.startsWith('//'))
      .join(' ');
    assert.ok(
      head.length > 120 && /import/i.test(head),
      `src/${d}/index.ts needs an opening comment saying what lives there and what it may import`,
    );
  }
});
