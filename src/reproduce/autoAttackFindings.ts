// Whether the sensitivity-trained model's lower PGD success survives AutoAttack: its AutoAttack
// robust accuracy against the standard model's and the PGD-trained one's, on the same inputs,
// with the paired interval of the difference (pairedDifference.ts).
import type { Norm } from '../attacks/budget.js';
import { describe, rate, type Finding, type Verdict } from './findings.js';
import { pairedCounts, pairedRateDifference } from './pairedDifference.js';
import type { AutoAttackRun, ModelRow } from './reportReaders.js';
import { MODEL_TITLES, type ModelKind } from './settings.js';

const pct = (x: number) => (100 * x).toFixed(1);
/** Points with one decimal, or two significant digits where one decimal would show a nonzero end of an interval as 0.0 (its verdict depends on the sign). */
const points = (x: number) => (Math.abs(x) < 0.0005 && x !== 0 ? (100 * x).toPrecision(2) : pct(x));
const NAMES: Record<Norm, string> = { l2: 'L2', linf: 'Linf' };

/** a's robust accuracy minus b's, paired by input: the text and the verdict of "a is more robust than b". */
function pairedComparison(a: AutoAttackRun, b: AutoAttackRun): { verdict: Verdict; text: string } {
  const {
    difference,
    interval: [lo, hi],
  } = pairedRateDifference(pairedCounts(a.robust, b.robust));
  const verdict: Verdict = lo > 0 ? 'holds' : hi < 0 ? 'does not hold' : 'inconclusive';
  return { verdict, text: `paired difference ${pct(difference)} points [${points(lo)}, ${points(hi)}]` };
}

const robustRate = (a: AutoAttackRun) => rate(a.robustAccuracy, a.count);

/** " (checks fired: standard zero-gradient; ...)" when a run's result is flagged. */
function flags(runs: [ModelKind, AutoAttackRun][]): string {
  const fired = runs.flatMap(([k, a]) => a.fired.map((c) => `${MODEL_TITLES[k]}: ${c.id}`));
  return fired.length ? ` Checks fired (see Table 1's notes): ${fired.join('; ')}.` : '';
}

/**
 * Per norm: the sensitivity-trained model against the standard one (its PGD success, then its
 * AutoAttack robust accuracy), and against the model PGD-trained under that norm. Inconclusive
 * when the folder has no AutoAttack results.
 */
export function autoAttackFindings(rows: ModelRow[]): Finding[] {
  const by = (k: ModelKind) => rows.find((r) => r.kind === k)!;
  const std = by('standard');
  const sens = by('sensitivity');
  const out: Finding[] = [];
  const f = (text: string, verdict: Verdict) => out.push({ text, verdict, holds: verdict === 'holds' });
  for (const norm of ['l2', 'linf'] as const) {
    const name = NAMES[norm];
    const s = std.autoattack?.[norm];
    const z = sens.autoattack?.[norm];
    const adv = by(norm).autoattack?.[norm];
    if (!s || !z || !adv) {
      f(
        `The sensitivity-trained model's lower ${name} PGD success survives AutoAttack: no AutoAttack results in this folder.`,
        'inconclusive',
      );
      continue;
    }
    const pgd = (r: ModelRow) => rate(r[norm].pgd, r.count);
    const sameInputs = z.count === sens.count;
    const pgdRobust = sameInputs
      ? ` PGD's robust accuracy on the same inputs: ${pct(sens[norm].pgdRobust)}% vs ${pct(std[norm].pgdRobust)}%.`
      : '';
    const c = pairedComparison(z, s);
    f(
      `The sensitivity-trained model's lower ${name} PGD success survives AutoAttack: PGD success ${describe(pgd(sens))} vs ${describe(pgd(std))} ` +
        `for the standard model; AutoAttack robust accuracy ${describe(robustRate(z))} vs ${describe(robustRate(s))} (${c.text}; it holds when the ` +
        `sensitivity-trained model is more robust).${pgdRobust}${flags([
          ['sensitivity', z],
          ['standard', s],
        ])}`,
      c.verdict,
    );
    const p = pairedComparison(adv, z);
    f(
      `The ${MODEL_TITLES[norm]} model has higher ${name} AutoAttack robust accuracy than the sensitivity-trained one: ${describe(robustRate(adv))} vs ` +
        `${describe(robustRate(z))} (${p.text}).${flags([
          [norm, adv],
          ['sensitivity', z],
        ])}`,
      p.verdict,
    );
  }
  return out;
}
