// The reproduction's outputs: Table 1 (CSV and Markdown), Figures 1-3 and the pruning plot,
// and report.md / a self-contained report.html with the settings, versions and timings.
import { readFeatureStats, readSensitivitySummary } from '../analysis/sensitivityFiles.js';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kdeFigure, lineFigure, saveFigure, type KdeOptions, type LineOptions, type LineSeries, type Series } from '../reports/figures.js';
import { FIGURE1_CLIP, scaledActivations } from '../analysis/figures.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { loadNpy } from '../serialization/npy.js';
import { scope } from '../tensor/scope.js';
import { libtorchVersion } from '../tensor/runtime.js';
import { MODEL_KINDS, MODEL_TITLES, PAPER_TABLE1, type ModelKind } from './settings.js';
import type { ReproduceOptions, StepTiming } from './pipeline.js';
import { layout } from './layout.js';
import { readAttackResults, type AttackResults, type RankRate, type TargetSplit } from '../experiments/attackRun.js';
import { ATTACK_DEFAULTS } from '../attacks/defaults.js';
import type { TrainConfig } from '../training/config.js';
import type { Norm } from '../attacks/budget.js';
import { MANIFEST_FILE } from '../models/runFolder.js';
import { findings } from './findings.js';
import { galleryHtml, galleryMarkdown, galleryRows } from './gallery.js';

/** One norm's attacks on one model, on Table 1's inputs. */
export interface NormRow {
  /** Success rates over all inputs (the prediction changed), over the correctly classified ones, and robust accuracy. */
  pgd: number;
  pgdCorrect: number;
  pgdRobust: number;
  kns: Record<string, number>;
  knsCorrect: Record<string, number>;
  knsRobust: Record<string, number>;
  /** The single-neuron attack on each input's most sensitive neuron, split by whether it was active. */
  rank1: TargetSplit;
  /** Every attacked (input, neuron) row, split the same way. */
  targets: TargetSplit;
  perRank: RankRate[];
}

export interface ModelRow {
  kind: ModelKind;
  /** Inputs every column was measured on, and the accuracy on them. */
  count: number;
  clean: number;
  /** Accuracy on the whole test set, and its size. */
  testAccuracy: number;
  testCount: number;
  l2: NormRow;
  linf: NormRow;
  deadFeatures: number;
  featureDim: number;
  /** Epoch whose weights the run kept (the last one unless trained with keep: best-robust). */
  keptEpoch: number | null;
  /** The model's own training settings in a few words (from its model.json). */
  training: string;
}

/** "sensitivity (top-k 16, delta1 10, delta2 100), 12 epochs, lr 0.05" from a run's training config. */
export function describeTraining(t: Partial<TrainConfig> | undefined): string {
  if (!t) return 'not trained by Sauron';
  const method = t.method === 'pgd' && t.adversarial ? `PGD ${t.adversarial.norm} eps ${+t.adversarial.eps.toFixed(5)}, ${t.adversarial.steps} steps`
    : t.method === 'sensitivity' && t.regularizer ? `sensitivity (top-k ${t.regularizer.topK}, delta1 ${t.regularizer.delta1}, delta2 ${t.regularizer.delta2})`
      : String(t.method ?? 'standard');
  return `${method}, ${t.epochs} epochs, lr ${t.lr} ${t.schedule ?? ''}`.trim() + (t.keep === 'best-robust' ? ', keep best-robust' : '');
}

const pct = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? '' : (100 * x).toFixed(1));

function normRow(pgd: AttackResults, kns: AttackResults): NormRow {
  const empty = { rows: 0, successRate: null, deltaAchieveRate: null };
  const r1 = kns.perRank?.[0];
  return {
    pgd: pgd.successRate, pgdCorrect: pgd.successRateCorrect, pgdRobust: pgd.robustAccuracy,
    kns: kns.nNeuronSuccessRate ?? {}, knsCorrect: kns.nNeuronSuccessRateCorrect ?? {}, knsRobust: kns.nNeuronRobustAccuracy ?? {},
    rank1: r1 ? { active: r1.active, inactive: r1.inactive } : { active: empty, inactive: empty },
    targets: kns.targets ?? { active: empty, inactive: empty }, perRank: kns.perRank ?? [],
  };
}

export function readRows(o: ReproduceOptions): ModelRow[] {
  const read = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
  return MODEL_KINDS.map((kind) => {
    const a = (norm: string, attack: string) => readAttackResults(layout.attack(o.out, kind, norm, attack));
    const m = read(join(layout.model(o, kind), MANIFEST_FILE));
    const sens = readSensitivitySummary(layout.sensitivity(o.out, kind));
    const l2 = a('l2', 'pgd');
    return {
      kind, count: l2.count, clean: l2.cleanAccuracy, testAccuracy: m.metrics?.testAccuracy ?? NaN, testCount: sens.count,
      l2: normRow(l2, a('l2', 'kns')), linf: normRow(a('linf', 'pgd'), a('linf', 'kns')),
      deadFeatures: sens.deadFeatures, featureDim: sens.featureDim, keptEpoch: m.metrics?.keptEpoch ?? m.metrics?.epochs ?? null,
      training: describeTraining(m.training),
    };
  });
}

function markdownTable(head: string[], cells: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...cells.map((c) => `| ${c.join(' | ')} |`)].join('\n') + '\n';
}

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

/**
 * The sensitivity-trained model's single-neuron result against the standard model's, taken
 * apart: 1-NS success = share of active targets x success on them + the rest x success on
 * inactive ones. Reweighting one model's rates with the other's share separates "which targets
 * are attackable" from "how attackable each kind is".
 */
export function activityExplanation(rows: ModelRow[]): string {
  const std = rows.find((r) => r.kind === 'standard')!;
  const sens = rows.find((r) => r.kind === 'sensitivity')!;
  const out: string[] = [];
  for (const norm of ['l2', 'linf'] as const) {
    const parts = (r: ModelRow) => {
      const t = r[norm].rank1;
      const n = t.active.rows + t.inactive.rows;
      return { share: n ? t.active.rows / n : 0, p: t.active.successRate ?? 0, q: t.inactive.successRate ?? 0,
        reach: t.active.deltaAchieveRate ?? 0, rate: r[norm].perRank[0]?.successRate ?? 0 };
    };
    const a = parts(std);
    const b = parts(sens);
    const mixed = a.share * b.p + (1 - a.share) * b.q;
    const name = norm === 'l2' ? 'L2' : 'Linf';
    out.push(`- ${name}: the single-neuron attack on each input's most sensitive neuron succeeds on ${pct(b.rate)}% of the inputs for ` +
      `the sensitivity-trained model and ${pct(a.rate)}% for the standard one. That neuron is active on ${pct(b.share)}% vs ${pct(a.share)}% ` +
      `of the inputs; attacks on active targets succeed ${pct(b.p)}% vs ${pct(a.p)}% of the time, on inactive ones ${pct(b.q)}% vs ${pct(a.q)}%. ` +
      `With the standard model's share of active targets the sensitivity-trained model's rate would be ${pct(mixed)}%: ` +
      `${pct(b.rate - mixed)} of the ${pct(b.rate - a.rate)} points between the models come from which targets are active, the rest from ` +
      `the success on each kind. On active targets the neuron reaches its Delta in ${pct(b.reach)}% vs ${pct(a.reach)}% of the attacks; ` +
      'an attack that fools the model without its neuron reaching Delta did so through other features (Delta is the smallest change of ' +
      'that neuron alone that flips the prediction).');
  }
  return out.join('\n') + '\n';
}

export interface SweepPoint {
  kind: ModelKind;
  norm: Norm;
  eps: number;
  attack: 'pgd' | 'kns';
  count: number;
  successRate: number;
  successRateCorrect: number;
  robustAccuracy: number;
  /** The single-neuron attack: rows whose target was active, and their success rate. */
  activeRows: number | null;
  activeSuccessRate: number | null;
}

export function readSweep(o: ReproduceOptions): SweepPoint[] {
  const s = o.settings;
  const out: SweepPoint[] = [];
  for (const kind of MODEL_KINDS) {
    for (const norm of ['l2', 'linf'] as const) {
      for (const eps of s.sweep[norm]) {
        for (const attack of ['pgd', 'kns'] as const) {
          const r = readAttackResults(layout.sweep(o.out, kind, norm, eps, attack));
          const active = r.perRank?.[0]?.active;
          out.push({ kind, norm, eps, attack, count: r.count, successRate: r.successRate, successRateCorrect: r.successRateCorrect,
            robustAccuracy: r.robustAccuracy, activeRows: active?.rows ?? null, activeSuccessRate: active?.successRate ?? null });
        }
      }
    }
  }
  return out;
}

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

/** Figure 1's series: each model's sample of finite scaled sensitivities. */
export function figure1Series(out: string): Series[] {
  return scope(() => MODEL_KINDS.map((kind) => ({ label: MODEL_TITLES[kind], values: loadNpy(layout.scaledSample(out, kind)).toFloat32Array() })));
}

export const FIGURE1_OPTIONS: KdeOptions = {
  title: 'Scaled neuron sensitivities (Figure 1)', xLabel: '(Delta(i, x) - mean_i) / std_i', yLabel: 'density', clipQuantiles: FIGURE1_CLIP,
};

/** Figure 2: the single-neuron attack's success by rank, with PGD's rate as a dashed level. */
export function figure2(rows: ModelRow[], norm: Norm): { series: LineSeries[]; options: LineOptions } {
  const series = MODEL_KINDS.flatMap((kind) => {
    const row = rows.find((r) => r.kind === kind)!;
    const pr = row[norm].perRank;
    return [
      { label: `${MODEL_TITLES[kind]}: single-neuron attack`, x: pr.map((p) => p.rank), y: pr.map((p) => p.successRate) },
      { label: `${MODEL_TITLES[kind]}: PGD`, x: [pr[0]!.rank, pr[pr.length - 1]!.rank], y: [row[norm].pgd, row[norm].pgd], dashed: true },
    ];
  });
  return { series, options: { title: `${norm === 'l2' ? 'L2' : 'Linf'} single-neuron attack success by neuron rank (Figure 2)`,
    xLabel: 'neuron rank (1 = most sensitive for the input)', yLabel: 'attack success rate', yDomain: [0, 1] } };
}

/** The budget sweep: success against eps, PGD solid and the single-neuron attack dashed. */
export function sweepFigure(sweep: SweepPoint[], norm: Norm): { series: LineSeries[]; options: LineOptions } {
  const pts = sweep.filter((p) => p.norm === norm);
  const series = MODEL_KINDS.flatMap((kind) => (['pgd', 'kns'] as const).map((attack) => {
    const ps = pts.filter((p) => p.kind === kind && p.attack === attack);
    return { label: `${MODEL_TITLES[kind]}: ${attack === 'pgd' ? 'PGD' : 'single-neuron attack'}`, x: ps.map((p) => p.eps), y: ps.map((p) => p.successRate), dashed: attack === 'kns' };
  }));
  return { series, options: { title: `${norm === 'l2' ? 'L2' : 'Linf'} attack success against the budget`, xLabel: `${norm === 'l2' ? 'L2' : 'Linf'} eps`, yLabel: 'attack success rate', yDomain: [0, 1] } };
}

async function figures(o: ReproduceOptions, rows: ModelRow[], sweep: SweepPoint[]): Promise<string[]> {
  const out = o.out;
  const f1 = await kdeFigure(figure1Series(out), FIGURE1_OPTIONS);
  saveFigure(out, 'figure1', f1);
  for (const norm of ['linf', 'l2'] as const) {
    const f = figure2(rows, norm);
    saveFigure(out, norm === 'linf' ? 'figure2' : 'figure2-l2', await lineFigure(f.series, f.options));
  }
  const means = MODEL_KINDS.map((kind) => readFeatureStats(layout.sensitivity(out, kind)).mean);
  const f3 = await kdeFigure(MODEL_KINDS.map((kind, k) => ({
    label: `${MODEL_TITLES[kind]} (${rows.find((r) => r.kind === kind)!.deadFeatures} of ${rows.find((r) => r.kind === kind)!.featureDim} features always 0)`,
    values: scaledActivations(means[k]!),
  })), { title: 'Mean feature activation, min-max scaled (Figure 3)', xLabel: 'scaled mean activation', yLabel: 'density', clipQuantiles: [0, 1] });
  saveFigure(out, 'figure3', f3);
  for (const norm of ['l2', 'linf'] as const) {
    const f = sweepFigure(sweep, norm);
    saveFigure(out, `sweep-${norm}`, await lineFigure(f.series, f.options));
  }
  for (const ext of ['png', 'svg']) copyFileSync(join(layout.pruning(out), `pruning.${ext}`), join(out, `pruning.${ext}`));
  return ['figure1', 'figure2', 'figure2-l2', 'figure3', 'sweep-l2', 'sweep-linf', 'pruning'];
}

function paperTable(dataset: string, ns: number[]): string {
  const p = PAPER_TABLE1[dataset];
  if (!p) return '';
  const head = ['model', 'clean accuracy', 'L2 PGD', ...ns.map((n) => `L2 ${n}-NS`), 'Linf PGD'];
  const rows = MODEL_KINDS.map((k) => [MODEL_TITLES[k], p[k].clean.toFixed(1), p[k].l2Pgd.toFixed(1),
    ...ns.map((_, i) => (p[k].l2Kns?.[i]?.toFixed(1) ?? '')), p[k].linfPgd.toFixed(1)]);
  return ['### The paper\'s Table 1 (CIFAR-10, VGG-19), for comparison', '', markdownTable(head, rows)].join('\n');
}

export async function writeReport(o: ReproduceOptions, timings: StepTiming[], seconds: number): Promise<string> {
  const s = o.settings;
  const rows = readRows(o);
  const t = table1(rows, s.kns.neurons);
  writeFileAtomic(layout.table1Csv(o.out), t.csv);
  writeFileAtomic(layout.table1Md(o.out), t.md);
  const sweep = readSweep(o);
  writeFileAtomic(layout.sweepCsv(o.out), sweepCsv(sweep));
  const figs = await figures(o, rows, sweep);
  const pruning = readFileSync(layout.pruningCsv(o.out), 'utf8');
  const fs = findings(rows, pruning, s.kns.neurons, s.pruning.limit ?? rows[0]!.testCount);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const sensitivityKeep = s.train.sensitivity.keep === 'best-robust';
  const ranks = Math.max(s.kns.ranks, s.kns.neurons[s.kns.neurons.length - 1]!);
  const gallery = await galleryRows(o);
  const md = [
    `# Sauron reproduction: ${s.dataset}`, '',
    `Rows are the four models. Every column is measured on the same ${rows[0]!.count} inputs (the first of the test set):`,
    `clean accuracy, then attack success rates in percent. Success means the attack changed the model's prediction`,
    `(both attacks push away from the clean prediction), counted over all ${rows[0]!.count} inputs, misclassified ones included.`,
    `Budgets: L2 eps ${s.budgets.l2}, Linf eps ${+s.budgets.linf.toFixed(5)}. PGD: ${s.pgd.iterations} iterations, ${s.pgd.restarts} restart${s.pgd.restarts > 1 ? 's' : ''},`,
    `random start, step 2.5 * eps / ${s.pgd.iterations}. n-NS: each input's n most sensitive neurons are attacked one at a time`,
    `(${s.kns.iterations} iterations, lambda ${ATTACK_DEFAULTS.kns.lambda}, no random start, step 2.5 * eps / ${s.kns.iterations}) and the input counts as fooled if any`,
    `attack fools the model; gradients pass the final ReLU as the identity except on VGG (fake ReLU, see the README).`, '',
    '## Table 1', '', t.md, paperTable(s.dataset, s.kns.neurons),
    '### Over correctly classified inputs, and robust accuracy', '',
    'Success rates over the inputs each model classifies correctly; robust accuracy is the fraction of all inputs classified',
    'correctly before and after the attack (as RobustBench reports it).', '',
    correctTable(rows, s.kns.neurons),
    '### The single-neuron attack by target activity', '',
    'Each input\'s most sensitive neuron (rank 1), split by whether it was active (feature > 0) on the clean input. Behind a',
    'true ReLU an inactive target has no gradient; "Delta reached" means the neuron moved at least as far as Delta(i, x)',
    '(by sign; an infinite Delta, where no single-neuron flip exists, counts as not reached).', '',
    activityTable(rows),
    'Taken apart for the sensitivity-trained model against the standard one:', '',
    activityExplanation(rows),
    '### The models', '',
    'Clean accuracy on the whole test set, and each model\'s own training settings (from its `model.json`; models given',
    'with `--models` were trained with theirs, whatever the settings below say).', '',
    markdownTable(['model', `test accuracy (${rows[0]!.testCount} inputs)`, 'training', 'weights kept from epoch'],
      rows.map((r) => [MODEL_TITLES[r.kind], pct(r.testAccuracy), r.training, String(r.keptEpoch ?? '')])),
    sensitivityKeep ? 'The sensitivity-trained model keeps the weights of its epoch with the highest adversarial accuracy under the ' +
      'per-epoch validation attack (the reference\'s criterion); the others keep their last epoch.\n' : '',
    '## Budget sweep', '',
    `PGD (solid) and the single-neuron attack on each input's most sensitive neuron (dashed) at each budget, on the first ${s.sweep.inputs}`,
    'test inputs; the numbers are in `sweep.csv`.', '',
    '![L2 budget sweep](sweep-l2.png)', '', '![Linf budget sweep](sweep-linf.png)', '',
    'The single-neuron attack on inputs whose most sensitive neuron is active, against the budget: success rate in percent',
    '(number of such inputs).', '',
    activeSweepTable(sweep, 'l2', s.sweep.l2), activeSweepTable(sweep, 'linf', s.sweep.linf),
    '## Findings', '',
    'Each comparison states its rates with 95% Wilson intervals and the interval of the difference (Newcombe\'s, which ignores',
    'that the models were attacked on the same inputs and is therefore wider than a paired interval). A finding holds when',
    'the interval of the difference is on its side of zero (or of the stated margin), does not hold when it is on the other',
    'side, and is inconclusive otherwise.', '',
    ...fs.map((f) => `- ${f.verdict === 'holds' ? 'Holds' : f.verdict === 'does not hold' ? 'Does not hold' : 'Inconclusive'}: ${f.text}`), '',
    '## Gallery', '',
    `The first ${gallery.length / MODEL_KINDS.length} test inputs of each model, clean and after L2 PGD and the single-neuron attack on the`,
    `input's most sensitive neuron (eps ${s.budgets.l2}, Table 1's iterations, one restart); report.html shows the images.`, '',
    ...galleryMarkdown(gallery),
    '## Figures', '',
    'Figure 1: finite Delta values only (an infinite Delta, where no single-neuron flip exists, is left out); neurons that are',
    'zero on 99% of the inputs or more are left out (their standard deviation is near zero); at most 2 million values; the',
    `outer ${Math.round(FIGURE1_CLIP[0] * 100)}% on each side are clipped before the kernel density estimate.`, '',
    '![Figure 1: scaled sensitivities](figure1.png)', '',
    `Figure 2: success of the single-neuron attack on the neuron of each rank, ranks 1 to ${ranks} (\`reproduce --ranks\`).`, '',
    '![Figure 2: Linf success by neuron rank](figure2.png)', '', '![Figure 2: L2 success by neuron rank](figure2-l2.png)', '',
    '![Figure 3: scaled activations](figure3.png)', '', '![Pruning](pruning.png)', '',
    '## Settings', '', '```json', JSON.stringify(s, null, 2), '```', '',
    `Command: \`${o.command ?? 'reproduce()'}\``, '',
    `Versions: Sauron ${pkg.version}, libtorch ${libtorchVersion}, Node ${process.version}.`, '',
    '## Timings', '', '| step | seconds |', '|---|---:|',
    ...timings.map((x) => `| ${x.title}${x.skipped ? ' (done earlier)' : ''} | ${x.seconds.toFixed(1)} |`),
    `| total this run | ${seconds.toFixed(1)} |`, '',
    'Every number comes from files in this folder: `models/*/metrics.jsonl`, `sensitivity/*/summary.json`,',
    '`attacks/*/*/results.json` and `samples.csv`, `sweep/*/*/results.json` (and `sweep.csv`), `pruning/pruning.csv`.', '',
  ].join('\n');
  writeFileAtomic(layout.reportMd(o.out), md);
  writeFileAtomic(layout.reportHtml(o.out), html(md, o.out, figs, galleryHtml(gallery, esc)));
  return layout.reportHtml(o.out);
}

function esc(x: string): string {
  return x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A small Markdown-to-HTML pass for the report's own constructs, with figures inlined. */
function html(md: string, dir: string, figs: string[], gallery: string): string {
  const lines = md.split('\n');
  const out: string[] = [];
  let inCode = false;
  let table: string[] = [];
  let inGallery = false;
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
      if (!inGallery) table.push(l);
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
    // the gallery's images follow its heading and text; its Markdown table (names only) is left out
    if (l.startsWith('## ') && inGallery) {
      inGallery = false;
      out.push(gallery);
    }
    if (l === '## Gallery') inGallery = true;
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
img{max-width:100%;border:1px solid #ddd}img.gallery{width:84px;height:84px;image-rendering:pixelated}td.g{text-align:center}figure{margin:1.5em 0}pre{background:#f6f6f6;padding:1em;overflow:auto}
</style></head><body>
${out.join('\n')}
</body></html>
`;
}
