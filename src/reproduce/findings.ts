// The paper's qualitative findings (method.md section 7), checked on our numbers.
import type { ModelRow } from './report.js';

export interface Finding {
  text: string;
  holds: boolean;
}

export function findings(rows: ModelRow[], pruningCsv: string, ns: number[]): Finding[] {
  const by = (k: string) => rows.find((r) => r.kind === k)!;
  const std = by('standard');
  const sens = by('sensitivity');
  const out: Finding[] = [];
  const f = (text: string, holds: boolean) => out.push({ text, holds });
  for (const norm of ['l2', 'linf'] as const) {
    const kns = (r: ModelRow) => ns.map((n) => (norm === 'l2' ? r.l2Kns : r.linfKns)[String(n)] ?? 0);
    const pgd = (r: ModelRow) => (norm === 'l2' ? r.l2Pgd : r.linfPgd);
    const s = kns(std);
    const name = norm === 'l2' ? 'L2' : 'Linf';
    f(`${name} k-NS success on the standard model grows with n (${s.map((x) => (100 * x).toFixed(1)).join(' / ')} for n = ${ns.join(' / ')}).`,
      s.every((x, i) => i === 0 || x >= s[i - 1]!));
    const last = s[s.length - 1]!;
    f(`${name} ${ns[ns.length - 1]}-NS success approaches PGD on the standard model (${(100 * last).toFixed(1)} vs ${(100 * pgd(std)).toFixed(1)}; within 15 points).`,
      pgd(std) - last <= 0.15);
    for (const k of ['l2', 'linf'] as const) {
      const r = by(k);
      const lower = kns(r).every((x, i) => x <= s[i]!) && pgd(r) <= pgd(std);
      f(`The ${k === 'l2' ? 'L2' : 'Linf'} PGD-trained model has lower ${name} success than the standard one for PGD and every n.`, lower);
    }
  }
  const drop = std.clean - sens.clean;
  f(`The sensitivity-trained model keeps clean accuracy close to the standard one (${(100 * sens.clean).toFixed(1)} vs ${(100 * std.clean).toFixed(1)}; within 1.5 points).`, drop <= 0.015);
  f(`The sensitivity-trained model has lower L2 PGD success than the standard one (${(100 * sens.l2Pgd).toFixed(1)} vs ${(100 * std.l2Pgd).toFixed(1)}).`, sens.l2Pgd < std.l2Pgd);
  const rowsP = pruningCsv.trim().split('\n').slice(1).map((l) => l.split(','));
  const counts = [...new Set(rowsP.map((r) => Number(r[1])))].sort((a, b) => a - b);
  const fifth = counts.find((c) => c > 0 && c >= 0.2 * counts[counts.length - 1]!) ?? counts[1]!;
  const acc = (order: string) => Number(rowsP.find((r) => r[0] === order && Number(r[1]) === fifth)?.[2]);
  f(`Pruning the ${fifth} most sensitive features hurts accuracy more than pruning the ${fifth} least sensitive (${(100 * acc('most')).toFixed(1)} vs ${(100 * acc('least')).toFixed(1)}).`,
    acc('most') < acc('least'));
  f(`The sensitivity-trained model has no more dead features than the standard one (${sens.deadFeatures} vs ${std.deadFeatures} of ${std.featureDim}).`,
    sens.deadFeatures <= std.deadFeatures);
  return out;
}
