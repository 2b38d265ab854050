// The report's tables, in Markdown (and CSV where a file keeps them): Table 1, its rates over
// correctly classified inputs, the single-neuron attack by target activity, the models, the
// budget sweep, and the paper's Table 1 for comparison.
import type { Norm } from '../attacks/budget.js';
import type { ModelRow, SweepPoint } from './reportReaders.js';
import type { TargetSplit } from '../experiments/attackResults.js';
import { MODEL_KINDS, MODEL_TITLES, PAPER_TABLE1, type ModelKind } from './settings.js';

/** A rate in percent with one decimal; empty for a missing rate. */
export const pct = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? '' : (100 * x).toFixed(1));

/** Right-aligned columns but the first. */
export function markdownTable(head: string[], cells: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...cells.map((c) => `| ${c.join(' | ')} |`)].join('\n') + '\n';
}

/** Table 1: clean accuracy and attack success rates in percent, as table1.csv and Markdown. */
export function table1(rows: ModelRow[], ns: number[]): { csv: string; md: string } {
  const head = ['model', 'clean accuracy', 'L2 PGD', ...ns.map((n) => `L2 ${n}-NS`), 'Linf PGD', ...ns.map((n) => `Linf ${n}-NS`)];
  const cells = rows.map((r) => [MODEL_TITLES[r.kind], pct(r.clean), pct(r.l2.pgd), ...ns.map((n) => pct(r.l2.kns[String(n)])),
    pct(r.linf.pgd), ...ns.map((n) => pct(r.linf.kns[String(n)]))]);
  const csv = [head.join(','), ...cells.map((c) => c.join(','))].join('\n') + '\n';
  return { csv, md: markdownTable(head, cells) };
}

/** Over correctly classified inputs, and robust accuracy (correct before and after), for PGD and the largest n. */
export function correctTable(rows: ModelRow[], ns: number[]): string {
  const n = String(ns[ns.length - 1]);
  const one = String(ns[0]);
  const head = ['model', 'correct inputs', ...(['L2', 'Linf'] as const).flatMap((N) => [`${N} PGD`, `${N} ${one}-NS`, `${N} ${n}-NS`,
    `${N} PGD robust accuracy`, `${N} ${n}-NS robust accuracy`])];
  const cells = rows.map((r) => [MODEL_TITLES[r.kind], String(Math.round(r.clean * r.count)),
    ...[r.l2, r.linf].flatMap((x) => [pct(x.pgdCorrect), pct(x.knsCorrect[one]), pct(x.knsCorrect[n]), pct(x.pgdRobust), pct(x.knsRobust[n])])]);
  return markdownTable(head, cells);
}

/** The single-neuron attack on each input's most sensitive neuron, by whether that neuron was active. */
export function activityTable(rows: ModelRow[]): string {
  const head = ['model', ...(['L2', 'Linf'] as const).flatMap((N) => [`${N} active targets`, `${N} success, active`, `${N} success, inactive`,
    `${N} Delta reached, active`])];
  const share = (x: TargetSplit) => (x.active.rows + x.inactive.rows ? `${pct(x.active.rows / (x.active.rows + x.inactive.rows))} (${x.active.rows} of ${x.active.rows + x.inactive.rows})` : '');
  const cells = rows.map((r) => [MODEL_TITLES[r.kind], ...[r.l2.rank1, r.linf.rank1].flatMap((x) => [share(x), pct(x.active.successRate),
    pct(x.inactive.successRate), pct(x.active.deltaAchieveRate)])]);
  return markdownTable(head, cells);
}

/** Each model's accuracy on the whole test set and its own training settings. */
export function modelsTable(rows: ModelRow[]): string {
  return markdownTable(['model', `test accuracy (${rows[0]!.testCount} inputs)`, 'training', 'weights kept from epoch'],
    rows.map((r) => [MODEL_TITLES[r.kind], pct(r.testAccuracy), r.training, String(r.keptEpoch ?? '')]));
}

/** sweep.csv: one line per budget-sweep attack, rates as fractions. */
export function sweepCsv(points: SweepPoint[]): string {
  return ['model,norm,eps,attack,inputs,success_rate,success_rate_correct,robust_accuracy,active_targets,success_rate_active',
    ...points.map((p) => [p.kind, p.norm, +p.eps.toFixed(6), p.attack === 'pgd' ? 'pgd' : '1-ns', p.count, p.successRate, p.successRateCorrect,
      p.robustAccuracy, p.activeRows ?? '', p.activeSuccessRate ?? ''].join(','))]
    .join('\n') + '\n';
}

/** The single-neuron attack on active rank-1 targets against the budget: one row per model, one column per eps. */
export function activeSweepTable(points: SweepPoint[], norm: Norm, eps: number[]): string {
  const cell = (kind: ModelKind, e: number) => {
    const p = points.find((x) => x.kind === kind && x.norm === norm && x.eps === e && x.attack === 'kns');
    return p && p.activeRows ? `${pct(p.activeSuccessRate)} (${p.activeRows})` : '';
  };
  return markdownTable(['model', ...eps.map((e) => `${norm === 'l2' ? 'L2' : 'Linf'} ${+e.toFixed(4)}`)],
    MODEL_KINDS.map((k) => [MODEL_TITLES[k], ...eps.map((e) => cell(k, e))]));
}

/** The paper's Table 1 for this data set (empty when the paper has none), headed for the report. */
export function paperTable(dataset: string, ns: number[]): string {
  const p = PAPER_TABLE1[dataset];
  if (!p) return '';
  const head = ['model', 'clean accuracy', 'L2 PGD', ...ns.map((n) => `L2 ${n}-NS`), 'Linf PGD'];
  const rows = MODEL_KINDS.map((k) => [MODEL_TITLES[k], p[k].clean.toFixed(1), p[k].l2Pgd.toFixed(1),
    ...ns.map((_, i) => (p[k].l2Kns?.[i]?.toFixed(1) ?? '')), p[k].linfPgd.toFixed(1)]);
  return ['### The paper\'s Table 1 (CIFAR-10, VGG-19), for comparison', '', markdownTable(head, rows)].join('\n');
}
