// The reproduction's outputs: Table 1 (CSV and Markdown), Figures 1-3 and the pruning plot,
// and report.md / a self-contained report.html with the settings, versions and timings.
import { readFeatureStats, readSensitivitySummary } from '../analysis/sensitivityFiles.js';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kdeFigure, lineFigure, saveFigure } from '../reports/figures.js';
import { FIGURE1_CLIP, scaledActivations } from '../analysis/figures.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { loadNpy } from '../serialization/npy.js';
import { scope } from '../tensor/scope.js';
import { libtorchVersion } from '../tensor/runtime.js';
import { MODEL_KINDS, MODEL_TITLES, PAPER_TABLE1, type ModelKind } from './settings.js';
import type { ReproduceOptions, StepTiming } from './pipeline.js';
import { layout } from './layout.js';
import { readAttackResults } from '../experiments/attackRun.js';
import { MANIFEST_FILE } from '../models/runFolder.js';
import { findings } from './findings.js';

export interface ModelRow {
  kind: ModelKind;
  clean: number;
  l2Pgd: number;
  l2Kns: Record<string, number>;
  linfPgd: number;
  linfKns: Record<string, number>;
  deadFeatures: number;
  featureDim: number;
}

const pct = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '' : (100 * x).toFixed(1));

export function readRows(o: ReproduceOptions): ModelRow[] {
  const read = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
  return MODEL_KINDS.map((kind) => {
    const a = (norm: string, attack: string) => readAttackResults(layout.attack(o.out, kind, norm, attack));
    const m = read(join(layout.model(o, kind), MANIFEST_FILE));
    const sens = readSensitivitySummary(layout.sensitivity(o.out, kind));
    return {
      kind, clean: m.metrics?.testAccuracy ?? NaN,
      l2Pgd: a('l2', 'pgd').successRate, l2Kns: a('l2', 'kns').nNeuronSuccessRate ?? {},
      linfPgd: a('linf', 'pgd').successRate, linfKns: a('linf', 'kns').nNeuronSuccessRate ?? {},
      deadFeatures: sens.deadFeatures, featureDim: sens.featureDim,
    };
  });
}

export function table1(rows: ModelRow[], ns: number[]): { csv: string; md: string } {
  const head = ['model', 'clean accuracy', 'L2 PGD', ...ns.map((n) => `L2 ${n}-NS`), 'Linf PGD', ...ns.map((n) => `Linf ${n}-NS`)];
  const cells = rows.map((r) => [MODEL_TITLES[r.kind], pct(r.clean), pct(r.l2Pgd), ...ns.map((n) => pct(r.l2Kns[String(n)])),
    pct(r.linfPgd), ...ns.map((n) => pct(r.linfKns[String(n)]))]);
  const csv = [head.join(','), ...cells.map((c) => c.join(','))].join('\n') + '\n';
  const md = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...cells.map((c) => `| ${c.join(' | ')} |`)].join('\n') + '\n';
  return { csv, md };
}

async function figures(o: ReproduceOptions, rows: ModelRow[]): Promise<string[]> {
  const out = o.out;
  const series = scope(() => MODEL_KINDS.map((kind) => ({
    kind,
    sample: loadNpy(layout.scaledSample(out, kind)).toFloat32Array(),
    mean: readFeatureStats(layout.sensitivity(out, kind)).mean,
  })));
  const f1 = await kdeFigure(series.map((x) => ({ label: MODEL_TITLES[x.kind], values: x.sample })),
    { title: 'Scaled neuron sensitivities (Figure 1)', xLabel: '(Delta(i, x) - mean_i) / std_i', yLabel: 'density', clipQuantiles: FIGURE1_CLIP });
  saveFigure(out, 'figure1', f1);
  const perRank = (kind: ModelKind, norm: string) =>
    readAttackResults(layout.attack(out, kind, norm, 'kns')).perRank ?? [];
  const norm = 'linf';
  const lines = MODEL_KINDS.flatMap((kind) => {
    const pr = perRank(kind, norm);
    const row = rows.find((r) => r.kind === kind)!;
    return [
      { label: `${MODEL_TITLES[kind]}: single-neuron attack`, x: pr.map((p) => p.rank), y: pr.map((p) => p.successRate) },
      { label: `${MODEL_TITLES[kind]}: PGD`, x: [pr[0]!.rank, pr[pr.length - 1]!.rank], y: [row.linfPgd, row.linfPgd], dashed: true },
    ];
  });
  const f2 = await lineFigure(lines, { title: 'Linf single-neuron attack success by neuron rank (Figure 2)',
    xLabel: 'neuron rank (1 = most sensitive for the input)', yLabel: 'attack success rate', yDomain: [0, 1] });
  saveFigure(out, 'figure2', f2);
  const f3 = await kdeFigure(series.map((x) => ({
    label: `${MODEL_TITLES[x.kind]} (${rows.find((r) => r.kind === x.kind)!.deadFeatures} of ${rows.find((r) => r.kind === x.kind)!.featureDim} features always 0)`,
    values: scaledActivations(x.mean),
  })), { title: 'Mean feature activation, min-max scaled (Figure 3)', xLabel: 'scaled mean activation', yLabel: 'density', clipQuantiles: [0, 1] });
  saveFigure(out, 'figure3', f3);
  for (const ext of ['png', 'svg']) copyFileSync(join(layout.pruning(out), `pruning.${ext}`), join(out, `pruning.${ext}`));
  return ['figure1', 'figure2', 'figure3', 'pruning'];
}

function paperTable(dataset: string, ns: number[]): string {
  const p = PAPER_TABLE1[dataset];
  if (!p) return '';
  const head = ['model', 'clean accuracy', 'L2 PGD', ...ns.map((n) => `L2 ${n}-NS`), 'Linf PGD'];
  const rows = MODEL_KINDS.map((k) => [MODEL_TITLES[k], p[k].clean.toFixed(1), p[k].l2Pgd.toFixed(1),
    ...ns.map((_, i) => (p[k].l2Kns?.[i]?.toFixed(1) ?? '')), p[k].linfPgd.toFixed(1)]);
  return ['### The paper\'s Table 1 (CIFAR-10, VGG-19), for comparison', '',
    `| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`), ''].join('\n');
}

export async function writeReport(o: ReproduceOptions, timings: StepTiming[], seconds: number): Promise<string> {
  const s = o.settings;
  const rows = readRows(o);
  const t = table1(rows, s.kns.neurons);
  writeFileAtomic(layout.table1Csv(o.out), t.csv);
  writeFileAtomic(layout.table1Md(o.out), t.md);
  const figs = await figures(o, rows);
  const pruning = readFileSync(layout.pruningCsv(o.out), 'utf8');
  const fs = findings(rows, pruning, s.kns.neurons);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const md = [
    `# Sauron reproduction: ${s.dataset}`, '',
    `Rows are the four models; columns are clean test accuracy and attack success rates in percent (the fraction of attacked`,
    `test inputs whose prediction changed; PGD on the first ${s.pgd.limit}, k-NS on the first ${s.kns.limit}). Budgets: L2 eps ${s.budgets.l2},`,
    `Linf eps ${+s.budgets.linf.toFixed(5)}. n-NS attacks each input's n most sensitive neurons (one at a time) and succeeds if any does.`, '',
    '## Table 1', '', t.md, paperTable(s.dataset, s.kns.neurons),
    '## Findings', '', ...fs.map((f) => `- ${f.holds ? 'Holds' : 'Does not hold'}: ${f.text}`), '',
    '## Figures', '',
    '![Figure 1: scaled sensitivities](figure1.png)', '', '![Figure 2: success by neuron rank](figure2.png)', '',
    '![Figure 3: scaled activations](figure3.png)', '', '![Pruning](pruning.png)', '',
    '## Settings', '', '```json', JSON.stringify(s, null, 2), '```', '',
    `Command: \`${o.command ?? 'reproduce()'}\``, '',
    `Versions: Sauron ${pkg.version}, libtorch ${libtorchVersion}, Node ${process.version}.`, '',
    '## Timings', '', '| step | seconds |', '|---|---:|',
    ...timings.map((x) => `| ${x.title}${x.skipped ? ' (done earlier)' : ''} | ${x.seconds.toFixed(1)} |`),
    `| total this run | ${seconds.toFixed(1)} |`, '',
    'Every number comes from files in this folder: `models/*/metrics.jsonl`, `sensitivity/*/summary.json`,',
    '`attacks/*/*/results.json` and `samples.csv`, `pruning/pruning.csv`.', '',
  ].join('\n');
  writeFileAtomic(layout.reportMd(o.out), md);
  writeFileAtomic(layout.reportHtml(o.out), html(md, o.out, figs));
  return layout.reportHtml(o.out);
}

function esc(x: string): string {
  return x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A small Markdown-to-HTML pass for the report's own constructs, with figures inlined. */
function html(md: string, dir: string, figs: string[]): string {
  const lines = md.split('\n');
  const out: string[] = [];
  let inCode = false;
  let table: string[] = [];
  const flushTable = () => {
    if (!table.length) return;
    const rows = table.filter((l) => !/^\|[-:|]+\|$/.test(l)).map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));
    out.push('<table>', `<tr>${rows[0]!.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`,
      ...rows.slice(1).map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`), '</table>');
    table = [];
  };
  for (const l of lines) {
    if (l.startsWith('```')) {
      flushTable();
      out.push(inCode ? '</pre>' : '<pre>');
      inCode = !inCode;
      continue;
    }
    if (inCode) {
      out.push(esc(l));
      continue;
    }
    if (l.startsWith('|')) {
      table.push(l);
      continue;
    }
    flushTable();
    const img = /^!\[(.*)\]\((.*)\)$/.exec(l);
    if (img) {
      const name = img[2]!.replace(/\.png$/, '');
      if (figs.includes(name) && existsSync(join(dir, img[2]!))) {
        const b64 = readFileSync(join(dir, img[2]!)).toString('base64');
        out.push(`<figure><img alt="${esc(img[1]!)}" src="data:image/png;base64,${b64}"><figcaption>${esc(img[1]!)}</figcaption></figure>`);
      }
      continue;
    }
    const inline = (x: string) => esc(x).replace(/`([^`]+)`/g, '<code>$1</code>');
    if (l.startsWith('### ')) out.push(`<h3>${inline(l.slice(4))}</h3>`);
    else if (l.startsWith('## ')) out.push(`<h2>${inline(l.slice(3))}</h2>`);
    else if (l.startsWith('# ')) out.push(`<h1>${inline(l.slice(2))}</h1>`);
    else if (l.startsWith('- ')) out.push(`<li>${inline(l.slice(2))}</li>`);
    else if (l.trim()) out.push(`<p>${inline(l)}</p>`);
  }
  flushTable();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sauron reproduction</title>
<style>
body{font-family:DejaVu Sans,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f0f0f0}
img{max-width:100%;border:1px solid #ddd}figure{margin:1.5em 0}pre{background:#f6f6f6;padding:1em;overflow:auto}
</style></head><body>
${out.join('\n')}
</body></html>
`;
}
