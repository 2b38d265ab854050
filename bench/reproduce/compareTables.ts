// Table 1 of two reproduce folders side by side, cell by cell: the difference in points and, for
// each success rate, its z-score against the binomial noise of two independent samples of that
// size. Both tables attack the same inputs, so that z is a yardstick, not a test: what a move
// should be compared with is the move between two seeds of one code (run it on those first).
//   node --import tsx bench/reproduce/compareTables.ts runs/repro-cpu runs/repro-seed1 [--inputs 1000]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { inputs: { type: 'string' } } });
if (positionals.length !== 2) throw new Error('usage: compareTables.ts FOLDER_A FOLDER_B [--inputs N]');

function table(dir: string): { header: string[]; rows: Map<string, number[]>; inputs: number } {
  const lines = readFileSync(join(dir, 'table1.csv'), 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const rows = new Map(
    lines.slice(1).map((l) => {
      const c = l.split(',');
      return [c[0]!, c.slice(1).map(Number)] as const;
    }),
  );
  const settings = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')).settings as { inputs: number };
  return { header, rows, inputs: Number(a.inputs ?? settings.inputs) };
}
const [A, B] = positionals.map(table) as [ReturnType<typeof table>, ReturnType<typeof table>];
if (A.header.join() !== B.header.join()) throw new Error('the two tables have different columns');
const cols = A.header.slice(1);
const diffs: number[] = [];
const zs: number[] = [];
const out: string[] = [`| model | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`];
for (const [model, va] of A.rows) {
  const vb = B.rows.get(model);
  if (!vb) continue;
  const cells = va.map((x, i) => {
    const y = vb[i]!;
    const d = y - x;
    // clean accuracy is over the whole test set in some reports: no z-score for it
    if (cols[i] === 'clean accuracy') return `${d >= 0 ? '+' : ''}${d.toFixed(1)}`;
    const p = (x + y) / 200;
    const se = 100 * Math.sqrt((2 * p * (1 - p)) / A.inputs);
    const z = se > 0 ? d / se : 0;
    diffs.push(Math.abs(d));
    zs.push(Math.abs(z));
    return `${d >= 0 ? '+' : ''}${d.toFixed(1)} (z ${z.toFixed(1)})`;
  });
  out.push(`| ${model} | ${cells.join(' | ')} |`);
}
const sorted = [...diffs].sort((x, y) => x - y);
const medianDiff = sorted[Math.floor(sorted.length / 2)]!;
console.log(out.join('\n'));
console.log(
  `\n${diffs.length} success cells: median |difference| ${medianDiff.toFixed(1)} points, largest ${sorted[sorted.length - 1]!.toFixed(1)}; ` +
    `|z| > 1.96 in ${zs.filter((z) => z > 1.96).length}, |z| > 3 in ${zs.filter((z) => z > 3).length}`,
);
