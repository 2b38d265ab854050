// report.md's text: what each table and figure measures and how, around the numbers (tables,
// findings, gallery, settings, versions and timings). report.html renders the same Markdown.
import { readFileSync } from 'node:fs';
import { FIGURE1_CLIP } from '../analysis/sensitivityFigures.js';
import { ATTACK_DEFAULTS } from '../attacks/defaults.js';
import { libtorchVersion } from '../tensor/runtime.js';
import type { Finding } from './findings.js';
import { galleryMarkdown, type GalleryRow } from './gallery.js';
import type { ReproduceOptions, StepTiming } from './pipeline.js';
import type { ModelRow, SweepPoint } from './reportReaders.js';
import { activeSweepTable, activityTable, correctTable, markdownTable, modelsTable, paperTable, pct } from './reportTables.js';
import { MODEL_KINDS } from './settings.js';
import { autoAttackStagesTable, autoAttackText } from './autoAttackTable.js';

/** The numbers the text is written around. */
export interface ReportContent {
  rows: ModelRow[];
  /** Table 1 in Markdown. */
  table1Md: string;
  sweep: SweepPoint[];
  findings: Finding[];
  gallery: GalleryRow[];
  timings: StepTiming[];
  /** Seconds this run took. */
  seconds: number;
}

export function reportMarkdown(o: ReproduceOptions, c: ReportContent): string {
  const s = o.settings;
  const { rows, table1Md, sweep, gallery, timings, seconds } = c;
  const fs = c.findings;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const sensitivityKeep = s.train.sensitivity.keep === 'best-robust';
  const ranks = Math.max(s.kns.ranks, s.kns.neurons[s.kns.neurons.length - 1]!);
  return [
    `# Sauron reproduction: ${s.dataset}`,
    '',
    `Rows are the four models. Every column is measured on the same ${rows[0]!.count} inputs (the first of the test set):`,
    `clean accuracy, then attack success rates in percent. Success means the attack changed the model's prediction`,
    `(both attacks push away from the clean prediction), counted over all ${rows[0]!.count} inputs, misclassified ones included.`,
    `Budgets: L2 eps ${s.budgets.l2}, Linf eps ${+s.budgets.linf.toFixed(5)}. ` +
      `PGD: ${s.pgd.iterations} iterations, ${s.pgd.restarts} restart${s.pgd.restarts > 1 ? 's' : ''},`,
    `random start, step 2.5 * eps / ${s.pgd.iterations}. k-NS: each input's k most sensitive neurons are attacked one at a time`,
    `(${s.kns.iterations} iterations, lambda ${ATTACK_DEFAULTS.kns.lambda}, no random start, ` +
      `step 2.5 * eps / ${s.kns.iterations}) and the input counts as fooled if any`,
    `of these neuron attacks fools the model; gradients pass the final ReLU as the identity except on VGG (fake ReLU, see the README).`,
    '',
    autoAttackText(rows, s.budgets),
    '## Table 1',
    '',
    table1Md,
    paperTable(s.dataset, s.kns.neurons),
    '### AutoAttack, robust accuracy after each attack',
    '',
    "Robust accuracy in percent after each attack of the cascade in the order they ran (the reference implementation's log),",
    "and the final value's 95% Wilson interval.",
    '',
    autoAttackStagesTable(rows, markdownTable),
    '### Over correctly classified inputs, and robust accuracy',
    '',
    'Success rates over the inputs each model classifies correctly; robust accuracy is the fraction of all inputs classified',
    'correctly before and after the attack (as RobustBench reports it).',
    '',
    correctTable(rows, s.kns.neurons),
    '### 1-NS by target activity',
    '',
    "Each input's most sensitive neuron (rank 1), split by whether it was active (feature > 0) on the clean input. Behind a",
    'true ReLU an inactive target has no gradient; "Delta reached" means the neuron moved at least as far as Delta(i, x)',
    '(by sign; an infinite Delta, where no change of that neuron alone flips the prediction, counts as not reached).',
    '',
    activityTable(rows),
    'Taken apart for the sensitivity-trained model against the standard one:',
    '',
    activityExplanation(rows),
    '### The models',
    '',
    "Clean accuracy on the whole test set, and each model's own training settings (from its `model.json`; models given",
    'with `--models` were trained with theirs, whatever the settings below say).',
    '',
    modelsTable(rows),
    sensitivityKeep
      ? 'The sensitivity-trained model keeps the weights of its epoch with the highest robust accuracy under the ' +
        "per-epoch validation attack (the reference's criterion); the others keep their last epoch.\n"
      : '',
    '## Budget sweep',
    '',
    `PGD (solid) and 1-NS, the attack on each input's most sensitive neuron (dashed), at each budget, on the first ${s.sweep.inputs}`,
    'test inputs; the numbers are in `sweep.csv`.',
    '',
    '![L2 budget sweep](sweep-l2.png)',
    '',
    '![Linf budget sweep](sweep-linf.png)',
    '',
    '1-NS on inputs whose most sensitive neuron is active, against the budget: success rate in percent',
    '(number of such inputs).',
    '',
    activeSweepTable(sweep, 'l2', s.sweep.l2),
    activeSweepTable(sweep, 'linf', s.sweep.linf),
    '## Findings',
    '',
    "Each comparison states its rates with 95% Wilson intervals and the interval of the difference (Newcombe's, which ignores",
    'that the models were attacked on the same inputs and is therefore wider than a paired interval). A finding holds when',
    'the interval of the difference is on its side of zero (or of the stated margin), does not hold when it is on the other',
    "side, and is inconclusive otherwise. The AutoAttack comparisons pair the models' outcomes input by input (both were",
    "attacked on the same inputs): their interval is Newcombe's for paired proportions (his method 10) on the per-input",
    "robust flags in each run's samples.csv.",
    '',
    ...fs.map((f) => `- ${f.verdict === 'holds' ? 'Holds' : f.verdict === 'does not hold' ? 'Does not hold' : 'Inconclusive'}: ${f.text}`),
    '',
    '## Gallery',
    '',
    `The first ${gallery.length / MODEL_KINDS.length} test inputs of each model, clean and after L2 PGD and 1-NS (the attack on the`,
    `input's most sensitive neuron; eps ${s.budgets.l2}, Table 1's iterations, one restart); report.html shows the images.`,
    '',
    ...galleryMarkdown(gallery),
    '## Figures',
    '',
    'Figure 1: finite Delta values only (an infinite Delta, where no change of one neuron alone flips the prediction, is left out); neurons that are',
    'zero on 99% of the inputs or more are left out (their standard deviation is near zero); at most 2 million values; the',
    `outer ${Math.round(FIGURE1_CLIP[0] * 100)}% on each side are clipped before the kernel density estimate.`,
    '',
    '![Figure 1: scaled sensitivities](figure1.png)',
    '',
    `Figure 2: rank-r success, the success rate of the attack on each input's neuron of rank r alone, r = 1 to ${ranks} (\`reproduce --ranks\`).`,
    '',
    '![Figure 2: Linf rank-r success](figure2.png)',
    '',
    '![Figure 2: L2 rank-r success](figure2-l2.png)',
    '',
    '![Figure 3: scaled activations](figure3.png)',
    '',
    '![Pruning](pruning.png)',
    '',
    '## Settings',
    '',
    '```json',
    JSON.stringify(s, null, 2),
    '```',
    '',
    `Command: \`${o.command ?? 'reproduce()'}\``,
    '',
    `Versions: Sauron ${pkg.version}, libtorch ${libtorchVersion}, Node ${process.version}.`,
    '',
    '## Timings',
    '',
    '| step | seconds |',
    '|---|---:|',
    ...timings.map((x) => `| ${x.title}${x.skipped ? ' (done earlier)' : ''} | ${x.seconds.toFixed(1)} |`),
    `| total this run | ${seconds.toFixed(1)} |`,
    '',
    'Every number comes from files in this folder: `models/*/metrics.jsonl`, `sensitivity/*/summary.json`,',
    '`attacks/*/*/results.json` and `samples.csv`, `sweep/*/*/results.json` (and `sweep.csv`), `pruning/pruning.csv`.',
    '',
  ].join('\n');
}

/**
 * The sensitivity-trained model's 1-NS success rate against the standard model's, taken
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
      return {
        share: n ? t.active.rows / n : 0,
        p: t.active.successRate ?? 0,
        q: t.inactive.successRate ?? 0,
        reach: t.active.deltaAchieveRate ?? 0,
        rate: r[norm].perRank[0]?.successRate ?? 0,
      };
    };
    const a = parts(std);
    const b = parts(sens);
    const mixed = a.share * b.p + (1 - a.share) * b.q;
    const name = norm === 'l2' ? 'L2' : 'Linf';
    out.push(
      `- ${name}: 1-NS, the attack on each input's most sensitive neuron, succeeds on ${pct(b.rate)}% of the inputs for ` +
        `the sensitivity-trained model and ${pct(a.rate)}% for the standard one. That neuron is active on ${pct(b.share)}% vs ${pct(a.share)}% ` +
        `of the inputs; attacks on active targets succeed ${pct(b.p)}% vs ${pct(a.p)}% of the time, on inactive ones ${pct(b.q)}% vs ${pct(a.q)}%. ` +
        `With the standard model's share of active targets the sensitivity-trained model's rate would be ${pct(mixed)}%: ` +
        `${pct(b.rate - mixed)} of the ${pct(b.rate - a.rate)} points between the models come from which targets are active, the rest from ` +
        `the success on each kind. On active targets the neuron reaches its Delta in ${pct(b.reach)}% vs ${pct(a.reach)}% of the attacks; ` +
        'an attack that fools the model without its neuron reaching Delta did so through other features (Delta is the smallest change of ' +
        'that neuron alone that flips the prediction).',
    );
  }
  return `${out.join('\n')}\n`;
}
