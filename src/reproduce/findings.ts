// The paper's qualitative findings (method.md section 7), checked on our numbers. Every
// comparison of two rates carries the number of inputs and 95% intervals, and its verdict
// follows the interval of the difference, not a fixed margin.
import { rateDifference, wilson } from '../reports/intervals.js';
import type { ModelRow, NormRow } from './reportReaders.js';
import { MODEL_TITLES } from './settings.js';

/** Whether a finding of the paper holds on a reproduction, judged by 95% intervals. */
export type Verdict = 'holds' | 'does not hold' | 'inconclusive';

/**
 * One of the paper's findings checked on a reproduction: its statement with the measured rates, and the verdict.
 */
export interface Finding {
  text: string;
  verdict: Verdict;
  holds: boolean;
}

/** A rate with its counts: `hits` of `n`. */
export interface Rate {
  hits: number;
  n: number;
}

export const rate = (p: number | null | undefined, n: number): Rate => ({ hits: Math.round((p ?? 0) * n), n });

const pct = (x: number) => (100 * x).toFixed(1);

/** "42.0% [38.9, 45.1] of 1000" */
export function describe(r: Rate): string {
  const [lo, hi] = wilson(r.hits, r.n);
  return r.n ? `${pct(r.hits / r.n)}% [${pct(lo)}, ${pct(hi)}] of ${r.n}` : 'no inputs';
}

/**
 * Whether rate `a` exceeds rate `b` by more than `margin`: holds when the 95% interval of
 * a - b lies above the margin, does not hold when it lies below it, inconclusive otherwise.
 */
export function compare(a: Rate, b: Rate, margin = 0): { verdict: Verdict; text: string } {
  if (!a.n || !b.n) return { verdict: 'inconclusive', text: 'no inputs to compare' };
  const {
    difference,
    interval: [lo, hi],
  } = rateDifference(a.hits, a.n, b.hits, b.n);
  const verdict: Verdict = lo > margin ? 'holds' : hi < margin ? 'does not hold' : 'inconclusive';
  return { verdict, text: `difference ${pct(difference)} points [${pct(lo)}, ${pct(hi)}]` };
}

/** All of several verdicts: holds if every one holds, does not hold if any does not. */
function all(vs: Verdict[]): Verdict {
  return vs.includes('does not hold') ? 'does not hold' : vs.every((v) => v === 'holds') ? 'holds' : 'inconclusive';
}

/** The findings on Table 1's rows; `ks`: the k of its k-NS columns, ascending. */
export function findings(rows: ModelRow[], pruningCsv: string, ks: number[], pruningInputs: number): Finding[] {
  const by = (k: string) => rows.find((r) => r.kind === k)!;
  const std = by('standard');
  const sens = by('sensitivity');
  const out: Finding[] = [];
  const f = (text: string, verdict: Verdict) => out.push({ text, verdict, holds: verdict === 'holds' });
  const first = String(ks[0]);
  const last = String(ks[ks.length - 1]);
  for (const norm of ['l2', 'linf'] as const) {
    const name = norm === 'l2' ? 'L2' : 'Linf';
    const n = std.count;
    const r = (row: ModelRow) => row[norm];
    const kns = (x: NormRow, k: string) => rate(x.kns[k], n);
    const pgd = (x: NormRow) => rate(x.pgd, n);
    const s = r(std);
    const grows = compare(kns(s, last), kns(s, first));
    f(
      `${name} k-NS success on the standard model grows with k: ` +
        `${last}-NS ${describe(kns(s, last))} vs ${first}-NS ${describe(kns(s, first))} (${grows.text}).`,
      grows.verdict,
    );
    // "approaches PGD": the largest k closes at least half of the gap 1-NS leaves
    const gap1 = s.pgd - (s.kns[first] ?? 0);
    const gapN = s.pgd - (s.kns[last] ?? 0);
    const closes = compare(kns(s, last), rate((s.kns[first] ?? 0) + gap1 / 2, n));
    f(
      `${name} ${last}-NS success approaches PGD on the standard model: ${describe(kns(s, last))} vs PGD ${describe(pgd(s))}; the gap ` +
        `shrinks from ${pct(gap1)} points at k = ${first} to ${pct(gapN)} at k = ${last}, which must close at least half of it ` +
        `(${last}-NS minus the halfway point: ${closes.text}).`,
      gap1 <= 0 ? 'inconclusive' : closes.verdict,
    );
    for (const k of ['l2', 'linf'] as const) {
      const a = r(by(k));
      const cmp = [compare(pgd(s), pgd(a)), ...ks.map((m) => compare(kns(s, String(m)), kns(a, String(m))))];
      f(
        `The ${MODEL_TITLES[k]} model has lower ${name} success than the standard one for PGD (${describe(pgd(a))} vs ` +
          `${describe(pgd(s))}) and every k (${ks.map((m) => `${m}-NS ${pct(a.kns[String(m)] ?? 0)} vs ${pct(s.kns[String(m)] ?? 0)}`).join('; ')}).`,
        all(cmp.map((c) => c.verdict)),
      );
    }
    const z = r(sens);
    const p = compare(pgd(s), pgd(z));
    f(
      `The sensitivity-trained model has lower ${name} PGD success than the standard one: ${describe(pgd(z))} vs ${describe(pgd(s))} (${p.text}).`,
      p.verdict,
    );
    for (const k of [first, last]) {
      const c = compare(kns(s, k), kns(z, k));
      f(
        `The sensitivity-trained model has lower ${name} ${k}-NS success than the standard one: ${describe(kns(z, k))} vs ${describe(kns(s, k))} (${c.text}).`,
        c.verdict,
      );
    }
    // What the regularizer aims at: one neuron alone reaching the value that flips the prediction (Delta achieved).
    const reach = (x: NormRow) => rate(x.perRank[0]?.deltaAchieveRate, n);
    const rc = compare(reach(s), reach(z));
    f(
      `The sensitivity-trained model's most sensitive neuron reaches its Delta less often under ${name} 1-NS: ` +
        `${describe(reach(z))} vs ${describe(reach(s))} (${rc.text}).`,
      rc.verdict,
    );
    const act = (x: NormRow) => rate(x.rank1.active.successRate, x.rank1.active.rows);
    const c = compare(act(s), act(z));
    f(
      `Among inputs whose most sensitive neuron is active, the sensitivity-trained model has lower ${name} 1-NS success: ` +
        `${describe(act(z))} vs ${describe(act(s))} (${c.text}).`,
      c.verdict,
    );
  }
  const tests = (row: ModelRow) => rate(row.testAccuracy, row.testCount);
  const drop = compare(tests(std), tests(sens), 0.015);
  f(
    `The sensitivity-trained model keeps clean accuracy within 1.5 points of the standard one: ${describe(tests(sens))} vs ${describe(tests(std))} ` +
      `(${drop.text}).`,
    drop.verdict === 'holds' ? 'does not hold' : drop.verdict === 'does not hold' ? 'holds' : 'inconclusive',
  );
  const rowsP = pruningCsv
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));
  const counts = [...new Set(rowsP.map((r) => Number(r[1])))].sort((a, b) => a - b);
  const fifth = counts.find((c) => c > 0 && c >= 0.2 * counts[counts.length - 1]!) ?? counts[1]!;
  const acc = (order: string) => rate(Number(rowsP.find((r) => r[0] === order && Number(r[1]) === fifth)?.[2]), pruningInputs);
  const pr = compare(acc('least'), acc('most'));
  f(
    `Pruning the ${fifth} most sensitive features hurts accuracy more than pruning the ${fifth} least sensitive: ${describe(acc('most'))} ` +
      `vs ${describe(acc('least'))} (${pr.text}).`,
    pr.verdict,
  );
  f(
    `The sensitivity-trained model has no more dead features than the standard one (${sens.deadFeatures} vs ${std.deadFeatures} of ${std.featureDim}).`,
    sens.deadFeatures <= std.deadFeatures ? 'holds' : 'does not hold',
  );
  return out;
}
