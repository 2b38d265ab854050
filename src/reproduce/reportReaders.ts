// The reproduce folder's result files read into the report's rows: one row per model (Table 1's
// attacks, its training, its features) and one point per budget-sweep attack.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSensitivitySummary } from '../analysis/sensitivityFiles.js';
import type { Norm } from '../attacks/budget.js';
import { readAttackResults, type AttackResults, type RankRate, type TargetSplit } from '../experiments/attackResults.js';
import { MANIFEST_FILE } from '../models/runFolder.js';
import type { TrainConfig } from '../training/config.js';
import { layout } from './layout.js';
import { isRobust, readAutoAttackResults, readAutoAttackSamples, type AutoAttackCell } from './autoAttackFiles.js';
import type { ReproduceOptions } from './pipeline.js';
import { MODEL_KINDS, type ModelKind } from './settings.js';

/** One norm's attacks on one model, on Table 1's inputs. */
export interface NormRow {
  /**
   * Success rates over all inputs (the prediction changed), over the correctly classified ones, and robust accuracy;
   * `kns*`: the k-NS success rates and robust accuracy keyed by k.
   */
  pgd: number;
  pgdCorrect: number;
  pgdRobust: number;
  kns: Record<string, number>;
  knsCorrect: Record<string, number>;
  knsRobust: Record<string, number>;
  /** 1-NS (the neuron attack on each input's most sensitive neuron), split by whether that neuron was active. */
  rank1: TargetSplit;
  /** Every neuron attack, split the same way. */
  targets: TargetSplit;
  /** Rank-r success for each rank r (Figure 2). */
  perRank: RankRate[];
}

/** One model's row of Table 1: accuracies, and the attack results under each norm. */
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
  /** Table 1's AutoAttack columns; null for a reproduce folder written before they existed. */
  autoattack: Record<Norm, AutoAttackRun> | null;
}

/** One AutoAttack step: its results and, per input (data-set position), whether it stayed robust. */
export interface AutoAttackRun extends AutoAttackCell {
  robust: Map<number, boolean>;
}

function readAutoAttackRun(dir: string): AutoAttackRun {
  const cell = readAutoAttackResults(dir);
  const robust = new Map(readAutoAttackSamples(dir).map((x) => [x.index, isRobust(x)]));
  if (robust.size !== cell.count) throw new Error(`${dir}: samples.csv has ${robust.size} inputs, results.json counts ${cell.count}`);
  return { ...cell, robust };
}

/** "sensitivity (top-k 16, delta1 10, delta2 100), 12 epochs, lr 0.05" from a run's training config. */
export function describeTraining(t: Partial<TrainConfig> | undefined): string {
  if (!t) return 'not trained by Sauron';
  const method =
    t.method === 'pgd' && t.adversarial
      ? `PGD ${t.adversarial.norm} eps ${+t.adversarial.eps.toFixed(5)}, ${t.adversarial.steps} steps`
      : t.method === 'sensitivity' && t.regularizer
        ? `sensitivity (top-k ${t.regularizer.topK}, delta1 ${t.regularizer.delta1}, delta2 ${t.regularizer.delta2})`
        : String(t.method ?? 'standard');
  return `${method}, ${t.epochs} epochs, lr ${t.lr} ${t.schedule ?? ''}`.trim() + (t.keep === 'best-robust' ? ', keep best-robust' : '');
}

function normRow(pgd: AttackResults, kns: AttackResults): NormRow {
  const empty = { rows: 0, successRate: null, deltaAchieveRate: null };
  const r1 = kns.perRank?.[0];
  return {
    pgd: pgd.successRate,
    pgdCorrect: pgd.successRateCorrect,
    pgdRobust: pgd.robustAccuracy,
    kns: kns.knsSuccessRate ?? {},
    knsCorrect: kns.knsSuccessRateCorrect ?? {},
    knsRobust: kns.knsRobustAccuracy ?? {},
    rank1: r1 ? { active: r1.active, inactive: r1.inactive } : { active: empty, inactive: empty },
    targets: kns.targets ?? { active: empty, inactive: empty },
    perRank: kns.perRank ?? [],
  };
}

/** Reads every model's row of Table 1 from a reproduction's folder. */
export function readRows(o: ReproduceOptions): ModelRow[] {
  const read = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
  return MODEL_KINDS.map((kind) => {
    const a = (norm: string, attack: string) => readAttackResults(layout.attack(o.out, kind, norm, attack));
    const m = read(join(layout.model(o, kind), MANIFEST_FILE));
    const sens = readSensitivitySummary(layout.sensitivity(o.out, kind));
    const l2 = a('l2', 'pgd');
    const aa = (norm: Norm) => layout.attack(o.out, kind, norm, 'autoattack');
    const hasAutoAttack = existsSync(aa('l2')) || existsSync(aa('linf'));
    return {
      kind,
      count: l2.count,
      clean: l2.cleanAccuracy,
      testAccuracy: m.metrics?.testAccuracy ?? NaN,
      testCount: sens.count,
      l2: normRow(l2, a('l2', 'kns')),
      linf: normRow(a('linf', 'pgd'), a('linf', 'kns')),
      deadFeatures: sens.deadFeatures,
      featureDim: sens.featureDim,
      keptEpoch: m.metrics?.keptEpoch ?? m.metrics?.epochs ?? null,
      training: describeTraining(m.training),
      autoattack: hasAutoAttack ? { l2: readAutoAttackRun(aa('l2')), linf: readAutoAttackRun(aa('linf')) } : null,
    };
  });
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
  /** 1-NS: inputs whose rank-1 target was active, and the success rate on them. */
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
          out.push({
            kind,
            norm,
            eps,
            attack,
            count: r.count,
            successRate: r.successRate,
            successRateCorrect: r.successRateCorrect,
            robustAccuracy: r.robustAccuracy,
            activeRows: active?.rows ?? null,
            activeSuccessRate: active?.successRate ?? null,
          });
        }
      }
    }
  }
  return out;
}
