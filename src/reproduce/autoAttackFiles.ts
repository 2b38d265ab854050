// An AutoAttack folder (runAutoAttack's results.json and samples.csv) read back for Table 1,
// its finding and the explorer: the robust accuracy with the fired checks, and which attack of
// the cascade fooled each input.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile } from '../serialization/schema.js';

const Fraction = z.number().min(0).max(1);

const Results = z.looseObject({
  attack: z.looseObject({ version: z.string(), attacks: z.array(z.looseObject({ attack: z.string() })) }),
  count: z.int().min(0),
  cleanAccuracy: Fraction,
  robustAccuracy: Fraction,
  robustAccuracyInterval: z.tuple([Fraction, Fraction]),
  robustAccuracyByAttack: z.record(z.string(), Fraction),
  checks: z.array(z.looseObject({ id: z.string(), fired: z.boolean(), message: z.string() })),
});

/** One AutoAttack run's numbers (rates as fractions of all `count` inputs). */
export interface AutoAttackCell {
  count: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  robustAccuracyInterval: [number, number];
  /** `clean`, then the robust accuracy after each attack in the order they ran. */
  robustAccuracyByAttack: Record<string, number>;
  /** The version and the attacks it ran, in order. */
  version: string;
  attacks: string[];
  /** The checks that fired: a result not to be trusted as it stands (robustnessChecks.ts). */
  fired: { id: string; message: string }[];
}

/** A finished AutoAttack folder's results.json; one line naming the file and field when it is not one. */
export function readAutoAttackResults(dir: string): AutoAttackCell {
  const p = join(dir, 'results.json');
  if (!existsSync(p)) throw new Error(`${dir} has no results.json (the AutoAttack run has not finished)`);
  const r = readJsonFile(p, Results);
  return {
    count: r.count,
    cleanAccuracy: r.cleanAccuracy,
    robustAccuracy: r.robustAccuracy,
    robustAccuracyInterval: r.robustAccuracyInterval,
    robustAccuracyByAttack: r.robustAccuracyByAttack,
    version: r.attack.version,
    attacks: r.attack.attacks.map((a) => a.attack),
    fired: r.checks.filter((c) => c.fired).map(({ id, message }) => ({ id, message })),
  };
}

/** One input of an AutoAttack run (a line of samples.csv). */
export interface AutoAttackSample {
  index: number;
  label: number;
  cleanPrediction: number;
  /** The first attack that fooled it; null when none did or it was misclassified clean (not attacked). */
  fooledBy: string | null;
}

/** Robust as RobustBench counts it: classified correctly, and no attack fooled it. */
export const isRobust = (s: AutoAttackSample): boolean => s.cleanPrediction === s.label && s.fooledBy === null;

const NEEDED = ['index', 'label', 'clean_prediction', 'fooled_by'] as const;

/** Whether an attack folder's samples.csv is AutoAttack's (it has a fooled_by column). */
export function isAutoAttackSamples(csvHeader: string): boolean {
  return csvHeader.split(',').includes('fooled_by');
}

/** samples.csv of an AutoAttack folder, in file order; one line naming the file, line and column when it is not one. */
export function readAutoAttackSamples(dir: string): AutoAttackSample[] {
  const p = join(dir, 'samples.csv');
  if (!existsSync(p)) throw new Error(`${dir} has no samples.csv (the AutoAttack run has not finished)`);
  const lines = readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const head = (lines[0] ?? '').split(',');
  const col = Object.fromEntries(NEEDED.map((c) => [c, head.indexOf(c)])) as Record<(typeof NEEDED)[number], number>;
  const missing = NEEDED.filter((c) => col[c] < 0);
  if (missing.length) throw new Error(`${p}: expected the columns ${NEEDED.join(', ')} in the header, missing ${missing.join(', ')}`);
  return lines.slice(1).map((line, k) => {
    const cells = line.split(',');
    const int = (c: (typeof NEEDED)[number]) => {
      const raw = cells[col[c]] ?? '';
      if (!/^\d+$/.test(raw)) throw new Error(`${p}: line ${k + 2}: ${c}: expected a non-negative integer, got ${JSON.stringify(raw)}`);
      return Number(raw);
    };
    const fooledBy = (cells[col.fooled_by] ?? '').trim();
    return {
      index: int('index'),
      label: int('label'),
      cleanPrediction: int('clean_prediction'),
      fooledBy: fooledBy === '' ? null : fooledBy,
    };
  });
}
