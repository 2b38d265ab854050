// results.json of a PGD or k-NS attack: its fields, the summary of the records that fills
// them, and the reader of a finished folder's file.
import { existsSync, readFileSync } from 'node:fs';
import { knsSuccessRates } from '../attacks/kns.js';
import type { NeuronRecord, SampleRecord } from '../attacks/attackTypes.js';
import { attackResultsPath } from './attackFolder.js';
import type { TransferSummary } from './transferEvaluation.js';

/** Neuron attacks (k-NS rows) of one kind: how many, how many fooled the model, how many reached Delta. */
export interface TargetCount {
  rows: number;
  successRate: number | null;
  deltaAchieveRate: number | null;
}

/** Rows split by whether the target neuron was active (z_i(x) > 0) on the clean input. */
export interface TargetSplit {
  active: TargetCount;
  inactive: TargetCount;
}

export interface RankRate extends TargetSplit {
  rank: number;
  /** Rank-r success: the share of inputs whose neuron attack at this rank fooled the model. */
  successRate: number;
  /** Delta achieved: the share whose attacked neuron reached z_i + Delta. */
  deltaAchieveRate: number;
}

/** The summary's fields: what `summarizeAttack` computes from the records. */
export interface AttackSummary {
  count: number;
  cleanAccuracy: number;
  seconds: number;
  successRate: number;
  /** Over inputs the model classified correctly. */
  successRateCorrect: number;
  /** Inputs classified correctly before and after the attack (RobustBench's robust accuracy). */
  robustAccuracy: number;
  /** k-NS from rank 1: the k-NS success rate for each k (Table 1's columns), keyed by k. */
  knsSuccessRate?: Record<string, number>;
  knsSuccessRateCorrect?: Record<string, number>;
  /** For each k: inputs classified correctly and fooled through none of their k highest-ranked neurons. */
  knsRobustAccuracy?: Record<string, number>;
  /** Rank-r success for each attacked rank r (Figure 2). */
  perRank?: RankRate[];
  deltaAchieveRate?: number;
  /** Every neuron attack, split by whether the target was active. */
  targets?: TargetSplit;
}

/**
 * results.json: the run's `meta` fields first (model, data set, ...), then these. Success
 * rates count an input once when any of its rows (restarts, neurons) fooled the model.
 */
export type AttackResults = Record<string, unknown> &
  AttackSummary & {
    attack: Record<string, unknown>;
    transfer?: TransferSummary;
  };

/** The neuron window a k-NS run attacked, and the k of its k-NS success rates. */
export interface NeuronWindow {
  neurons: number[];
  rankStart?: number;
  rankCount: number;
}

/** results.json files written before the k-NS fields had their glossary names: old name -> today's. */
const FORMER_NAMES = {
  nNeuronSuccessRate: 'knsSuccessRate',
  nNeuronSuccessRateCorrect: 'knsSuccessRateCorrect',
  nNeuronRobustAccuracy: 'knsRobustAccuracy',
} as const;

/**
 * A finished attack folder's results.json (an older file's k-NS fields under today's names).
 *
 * @example
 * ```ts
 * const r = readAttackResults('runs/pgd'); // results.json
 * console.log(r.successRate, r.robustAccuracy);
 * ```
 */
export function readAttackResults(dir: string): AttackResults {
  const p = attackResultsPath(dir);
  if (!existsSync(p)) throw new Error(`${dir} has no results.json (the attack has not finished)`);
  const r = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  if (!r || typeof r !== 'object') throw new Error(`${p}: expected a JSON object`);
  for (const [old, now] of Object.entries(FORMER_NAMES)) if (old in r && !(now in r)) r[now] = r[old];
  return r as AttackResults;
}

/** The summary of PGD records, or of k-NS records when `window` is given (in data-set order). */
export function summarizeAttack(records: SampleRecord[], seconds: number, window?: NeuronWindow): AttackSummary {
  const inputs = new Map<number, SampleRecord>();
  for (const r of records) if (!inputs.has(r.index)) inputs.set(r.index, r);
  const correct = new Set([...inputs.values()].filter((r) => r.cleanPrediction === r.label).map((r) => r.index));
  const anySuccess = (filter: (r: SampleRecord) => boolean) => {
    const idx = new Set(records.filter((r) => filter(r)).map((r) => r.index));
    const hit = new Set(records.filter((r) => filter(r) && r.success).map((r) => r.index));
    return idx.size ? hit.size / idx.size : 0;
  };
  const fooled = new Set(records.filter((r) => r.success).map((r) => r.index));
  const res: AttackSummary = {
    count: inputs.size,
    cleanAccuracy: inputs.size ? correct.size / inputs.size : 0,
    seconds: +seconds.toFixed(2),
    successRate: anySuccess(() => true),
    successRateCorrect: anySuccess((r) => correct.has(r.index)),
    robustAccuracy: inputs.size ? [...correct].filter((i) => !fooled.has(i)).length / inputs.size : 0,
  };
  if (!window) return res;
  const nr = records as NeuronRecord[];
  const start = window.rankStart ?? 0;
  if (start === 0) {
    res.knsSuccessRate = knsSuccessRates(nr, window.neurons);
    const correctRate = knsSuccessRates(nr, window.neurons, (r) => correct.has(r.index));
    res.knsSuccessRateCorrect = correctRate;
    const share = inputs.size ? correct.size / inputs.size : 0;
    res.knsRobustAccuracy = Object.fromEntries(Object.entries(correctRate).map(([k, rate]) => [k, share * (1 - rate)]));
  }
  const perRank: RankRate[] = [];
  for (let k = start + 1; k <= start + window.rankCount; k++) {
    const at = nr.filter((r) => r.rank === k);
    perRank.push({
      rank: k,
      successRate: at.filter((r) => r.success).length / Math.max(at.length, 1),
      deltaAchieveRate: at.filter((r) => r.deltaAchieved).length / Math.max(at.length, 1),
      ...targetSplit(at),
    });
  }
  res.perRank = perRank;
  res.deltaAchieveRate = nr.filter((r) => r.deltaAchieved).length / Math.max(nr.length, 1);
  res.targets = targetSplit(nr);
  return res;
}

/** Rows split by whether their target neuron was active on the clean input. */
export function targetSplit(rows: NeuronRecord[]): TargetSplit {
  const count = (rs: NeuronRecord[]): TargetCount => ({
    rows: rs.length,
    successRate: rs.length ? rs.filter((r) => r.success).length / rs.length : null,
    deltaAchieveRate: rs.length ? rs.filter((r) => r.deltaAchieved).length / rs.length : null,
  });
  return { active: count(rows.filter((r) => r.active)), inactive: count(rows.filter((r) => !r.active)) };
}
