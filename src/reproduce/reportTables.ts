// The report's tables, in Markdown (and CSV where a file keeps them): Table 1, its rates over
// correctly classified inputs, 1-NS by target activity, the models, the
// budget sweep, and the paper's Table 1 for comparison.
import type { Norm } from '../attacks/budget.js';
import type { ModelRow, SweepPoint } from './reportReaders.js';
import type { TargetSplit } from '../experiments/attackResults.js';
import { MODEL_KINDS, MODEL_TITLES, PAPER_TABLE1, type ModelKind } from './settings.js';
import { autoAttackColumns } from './autoAttackTable.js';

/** A rate in percent with one decimal; empty for a missing rate. */
export const pct = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? '' : (100 * x).toFixed(1));

/** Right-aligned columns but the first. */
export function markdownTable(head: string[], cells: string[][]): string {
  return `${[
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`,
    ...cells.map((c) => `| ${c.join(' | ')} |`),
  ].join('\n')}\n`;
}

/**
 * Table 1: clean accuracy, PGD and k-NS success rates (one column per k of `ks`), then AutoAttack
 * robust accuracy under L2 and Linf, in percent, as table1.csv (with the ids of the checks each
 * AutoAttack run fired) and Markdown (a marker on each flagged cell, the check's line below).
 */
export function table1(rows: ModelRow[], ks: number[]): { csv: string; md: string } {
  const head = ['model', 'clean accuracy', 'L2 PGD', ...ks.map((k) => `L2 ${k}-NS`), 'Linf PGD', ...ks.map((k) => `Linf ${k}-NS`)];
  const cells = rows.map((r) => [
    MODEL_TITLES[r.kind],
    pct(r.clean),
    pct(r.l2.pgd),
    ...ks.map((k) => pct(r.l2.kns[String(k)])),
    pct(r.linf.pgd),
    ...ks.map((k) => pct(r.linf.kns[String(k)])),
  ]);
  const aa = autoAttackColumns(rows);
  const csv = `${[[...head, ...aa.csvHead].join(','), ...cells.map((c, i) => [...c, ...aa.csv[i]!].join(','))].join('\n')}\n`;
  const md = markdownTable(
    [...head, ...aa.head],
    cells.map((c, i) => [...c, ...aa.md[i]!]),
  );
  return {
    csv,
    md: aa.notes.length
      ? `${md}\nChecks that fired (the marked cells are not to be trusted as they stand):\n\n${aa.notes.map((n) => `- ${n}`).join('\n')}\n`
      : md,
  };
}

/** Over correctly classified inputs, and robust accuracy (correct before and after), for PGD, the smallest and the largest k. */
export function correctTable(rows: ModelRow[], ks: number[]): string {
  const n = String(ks[ks.length - 1]);
  const one = String(ks[0]);
  const head = [
    'model',
    'correct inputs',
    ...(['L2', 'Linf'] as const).flatMap((N) => [
      `${N} PGD`,
      `${N} ${one}-NS`,
      `${N} ${n}-NS`,
      `${N} PGD robust accuracy`,
      `${N} ${n}-NS robust accuracy`,
    ]),
  ];
  const cells = rows.map((r) => [
    MODEL_TITLES[r.kind],
    String(Math.round(r.clean * r.count)),
    ...[r.l2, r.linf].flatMap((x) => [
      pct(x.pgdCorrect),
      pct(x.knsCorrect[one]),
      pct(x.knsCorrect[n]),
      pct(x.pgdRobust),
      pct(x.knsRobust[n]),
    ]),
  ]);
  return markdownTable(head, cells);
}

/** 1-NS (the attack on each input's most sensitive neuron), by whether that neuron was active. */
export function activityTable(rows: ModelRow[]): string {
  const head = [
    'model',
    ...(['L2', 'Linf'] as const).flatMap((N) => [
      `${N} active targets`,
      `${N} success, active`,
      `${N} success, inactive`,
      `${N} Delta reached, active`,
    ]),
  ];
  const share = (x: TargetSplit) =>
    x.active.rows + x.inactive.rows
      ? `${pct(x.active.rows / (x.active.rows + x.inactive.rows))} (${x.active.rows} of ${x.active.rows + x.inactive.rows})`
      : '';
  const cells = rows.map((r) => [
    MODEL_TITLES[r.kind],
    ...[r.l2.rank1, r.linf.rank1].flatMap((x) => [
      share(x),
      pct(x.active.successRate),
      pct(x.inactive.successRate),
      pct(x.active.deltaAchieveRate),
    ]),
  ]);
  return markdownTable(head, cells);
}

/** Each model's accuracy on the whole test set and its own training settings. */
export function modelsTable(rows: ModelRow[]): string {
  return markdownTable(
    ['model', `test accuracy (${rows[0]!.testCount} inputs)`, 'training', 'weights kept from epoch'],
    rows.map((r) => [MODEL_TITLES[r.kind], pct(r.testAccuracy), r.training, String(r.keptEpoch ?? '')]),
  );
}

/** sweep.csv: one line per budget-sweep attack, rates as fractions. */
export function sweepCsv(points: SweepPoint[]): string {
  return `${[
    'model,norm,eps,attack,inputs,success_rate,success_rate_correct,robust_accuracy,active_targets,success_rate_active',
    ...points.map((p) =>
      [
        p.kind,
        p.norm,
        +p.eps.toFixed(6),
        p.attack === 'pgd' ? 'pgd' : '1-ns',
        p.count,
        p.successRate,
        p.successRateCorrect,
        p.robustAccuracy,
        p.activeRows ?? '',
        p.activeSuccessRate ?? '',
      ].join(','),
    ),
  ].join('\n')}\n`;
}

/** 1-NS on active rank-1 targets against the budget: one row per model, one column per eps. */
export function activeSweepTable(points: SweepPoint[], norm: Norm, eps: number[]): string {
  const cell = (kind: ModelKind, e: number) => {
    const p = points.find((x) => x.kind === kind && x.norm === norm && x.eps === e && x.attack === 'kns');
    return p?.activeRows ? `${pct(p.activeSuccessRate)} (${p.activeRows})` : '';
  };
  return markdownTable(
    ['model', ...eps.map((e) => `${norm === 'l2' ? 'L2' : 'Linf'} ${+e.toFixed(4)}`)],
    MODEL_KINDS.map((k) => [MODEL_TITLES[k], ...eps.map((e) => cell(k, e))]),
  );
}

/** The paper's Table 1 for this data set (empty when the paper has none), headed for the report. */
export function paperTable(dataset: string, ks: number[]): string {
  const p = PAPER_TABLE1[dataset];
  if (!p) return '';
  const head = ['model', 'clean accuracy', 'L2 PGD', ...ks.map((k) => `L2 ${k}-NS`), 'Linf PGD'];
  const rows = MODEL_KINDS.map((k) => [
    MODEL_TITLES[k],
    p[k].clean.toFixed(1),
    p[k].l2Pgd.toFixed(1),
    ...ks.map((_, i) => p[k].l2Kns?.[i]?.toFixed(1) ?? ''),
    p[k].linfPgd.toFixed(1),
  ]);
  return ["### The paper's Table 1 (CIFAR-10, VGG-19), for comparison", '', markdownTable(head, rows)].join('\n');
}
