// Table 1's AutoAttack columns: robust accuracy under L2 and Linf, the header saying which
// attacks ran (and on how many inputs when fewer than Table 1's), a marker on each cell whose
// run fired a check with the check's line below the table, and the robust accuracy after each
// attack of the cascade.
import { autoAttackPlan, type AutoAttackVersion, type PlannedAttack } from '../attacks/autoattack.js';
import type { Norm } from '../attacks/budget.js';
import type { RobustAttackName } from '../attacks/robustAttackTypes.js';
import type { AutoAttackRun, ModelRow } from './reportReaders.js';
import { MODEL_TITLES } from './settings.js';

const NORMS = ['l2', 'linf'] as const;
const NORM_NAMES: Record<Norm, string> = { l2: 'L2', linf: 'Linf' };
const pct = (x: number) => (100 * x).toFixed(1);

/** The reference's names of the attacks, as the report writes them. */
export const ATTACK_TITLES: Record<string, string> = {
  'apgd-ce': 'APGD-CE',
  'apgd-dlr': 'APGD-DLR',
  'apgd-t': 'APGD-T',
  fab: 'FAB',
  'fab-t': 'FAB-T',
  square: 'Square',
};

const title = (a: string) => ATTACK_TITLES[a] ?? a;

/** "standard", or a custom version's attacks: "apgd-ce+apgd-t" (no commas: it heads a CSV column). */
function versionLabel(r: AutoAttackRun): string {
  return r.version === 'custom' ? r.attacks.join('+') : r.version;
}

/** What ran for the AutoAttack columns, from the runs themselves: "standard", "apgd-ce+apgd-t (first 50 inputs)". */
export function autoAttackLabel(rows: ModelRow[]): string {
  const labels = new Set<string>();
  for (const r of rows) {
    for (const norm of NORMS) {
      const a = r.autoattack?.[norm];
      if (a) labels.add(`${versionLabel(a)}${a.count < r.count ? ` (first ${a.count} inputs)` : ''}`);
    }
  }
  return [...labels].join(' / ');
}

/** One attack with its settings: "APGD-T (9 target classes, 1 restart of 100 iterations each)". */
export function describeAttack(p: PlannedAttack): string {
  const restarts = (n: number) => `${n} restart${n === 1 ? '' : 's'}`;
  switch (p.attack) {
    case 'apgd-ce':
    case 'apgd-dlr':
      return `${title(p.attack)} (${restarts(p.restarts)} of ${p.iterations} iterations${p.eotIter > 1 ? `, gradients averaged over ${p.eotIter} draws` : ''})`;
    case 'apgd-t':
      return `${title(p.attack)} (${p.targetClasses} target classes, ${restarts(p.restarts)} of ${p.iterations} iterations each)`;
    case 'fab':
      return `${title(p.attack)} (${restarts(p.restarts)} of ${p.iterations} iterations)`;
    case 'fab-t':
      return `${title(p.attack)} (${p.targetClasses} target classes, ${p.iterations} iterations each)`;
    case 'square':
      return `${title(p.attack)} (${p.queries} queries, p_init ${p.pInit})`;
  }
}

/** The version's attacks in order with their settings, for the report. */
export function describeVersion(version: AutoAttackVersion, attacks: RobustAttackName[] | undefined, norm: Norm): string {
  return autoAttackPlan(version, norm, attacks).map(describeAttack).join(', then ');
}

export interface AutoAttackColumns {
  head: string[];
  /** Per row (in `rows` order): the CSV cells (robust accuracy in percent, then the fired checks' ids) and the Markdown cells (with markers). */
  csv: string[][];
  md: string[][];
  csvHead: string[];
  /** "[1] sensitivity-trained, Linf, zero-gradient: ..." for each marker. */
  notes: string[];
}

/** Table 1's AutoAttack cells: empty where a row has no AutoAttack run. */
export function autoAttackColumns(rows: ModelRow[]): AutoAttackColumns {
  const label = autoAttackLabel(rows);
  const head = NORMS.map((n) => `${NORM_NAMES[n]} AutoAttack ${label} robust accuracy`.replace(/\s+/g, ' '));
  const notes: string[] = [];
  const md = rows.map((r) =>
    NORMS.map((norm) => {
      const a = r.autoattack?.[norm];
      if (!a) return '';
      const refs = a.fired.map((c) => {
        notes.push(`[${notes.length + 1}] ${MODEL_TITLES[r.kind]}, ${NORM_NAMES[norm]}, check ${c.id}: ${c.message}`);
        return notes.length;
      });
      return `${pct(a.robustAccuracy)}${refs.length ? ` [${refs.join(', ')}]` : ''}`;
    }),
  );
  const csv = rows.map((r) => [
    ...NORMS.map((norm) => (r.autoattack ? pct(r.autoattack[norm].robustAccuracy) : '')),
    ...NORMS.map((norm) => r.autoattack?.[norm].fired.map((c) => c.id).join(' ') ?? ''),
  ]);
  return { head, md, csv, csvHead: [...head, ...NORMS.map((n) => `${NORM_NAMES[n]} AutoAttack checks fired`)], notes };
}

/** The robust accuracy after each attack in the order they ran (the reference's log), with each final value's Wilson interval. */
export function autoAttackStagesTable(rows: ModelRow[], table: (head: string[], cells: string[][]) => string): string {
  const runs = rows.flatMap((r) => NORMS.flatMap((norm) => (r.autoattack ? [{ r, norm, a: r.autoattack[norm] }] : [])));
  if (!runs.length) return '';
  const attacks = [...new Set(runs.flatMap((x) => x.a.attacks))];
  const head = ['model', 'norm', 'inputs', 'clean', ...attacks.map((a) => `after ${title(a)}`), 'robust accuracy [95% interval]'];
  return table(
    head,
    runs.map(({ r, norm, a }) => [
      MODEL_TITLES[r.kind],
      NORM_NAMES[norm],
      String(a.count),
      pct(a.robustAccuracyByAttack.clean ?? NaN),
      ...attacks.map((x) => (x in a.robustAccuracyByAttack ? pct(a.robustAccuracyByAttack[x]!) : '')),
      `${pct(a.robustAccuracy)} [${pct(a.robustAccuracyInterval[0])}, ${pct(a.robustAccuracyInterval[1])}]`,
    ]),
  );
}

/** The report's paragraph on the AutoAttack columns: what they measure and exactly what ran. */
export function autoAttackText(rows: ModelRow[], budgets: Record<Norm, number>): string {
  const run = rows.find((r) => r.autoattack)?.autoattack;
  if (!run) return 'This folder has no AutoAttack results (it was written before Table 1 had its AutoAttack columns).\n';
  const a = run.linf;
  const attacks = a.version === 'custom' ? (a.attacks as RobustAttackName[]) : undefined;
  const version = a.version as AutoAttackVersion;
  const lines = [
    'The AutoAttack columns are robust accuracy, not success (higher is more robust): the percentage of the inputs classified',
    "correctly against their true labels (RobustBench's convention) that no attack of the cascade fooled. Each attack runs only",
    `on the inputs every earlier one failed on, at Table 1's budgets (L2 ${budgets.l2}, Linf ${+budgets.linf.toFixed(5)}), on the first ${a.count} inputs.`,
    `What ran: ${describeVersion(version, attacks, 'linf')}.`,
  ];
  if (version !== 'standard') {
    lines.push(
      "This is not AutoAttack's standard version (RobustBench's: APGD-CE, APGD-T, FAB-T and Square with 5,000 queries),",
      'which `sauron reproduce` without --quick runs; attacks left out can only raise the robust accuracy.',
    );
  }
  lines.push(
    'A bracketed number marks a run where a check fired (listed under the table): that robust accuracy is not to be trusted',
    "as it stands. Each run's results.json lists every check, fired or not.",
  );
  return `${lines.join('\n')}\n`;
}
