// `sauron attack --attack autoattack` (or one of its attacks alone): AutoAttack over a data set as
// a kind of the attack runner (attackRunner.ts: folder, resume, ranks, examples), with the
// checks of a trustworthy evaluation in its results.json.
import {
  autoAttack,
  autoAttackPlan,
  robustAccuracyByAttack,
  type AutoAttackRecord,
  type AutoAttackVersion,
  type PlannedAttack,
} from '../attacks/autoattack.js';
import { CHECK_INPUTS, modelChecks, squareSuccessCheck, type CheckResult } from '../attacks/robustnessChecks.js';
import type { RobustAttackName } from '../attacks/robustAttackTypes.js';
import type { Norm } from '../attacks/threat.js';
import { toDevice } from '../data/loader.js';
import { wilson } from '../reports/intervals.js';
import { scope } from '../tensor/scope.js';
import { getWorldSize } from '../tensor/distributed.js';
import type { Precision } from '../tensor/device.js';
import type { AttackKind, Column } from './attackKind.js';
import { runAttackKind, type AttackRunnerOptions, type RunResults } from './attackRunner.js';

/** What `sauron attack --attack autoattack` (or one of its attacks alone) runs: the attacks, the budget and the seed. */
export interface AutoAttackSpec {
  /** 'autoattack', or one attack alone (AutoAttack's version 'custom' with just that attack, as the reference runs one). */
  attack: 'autoattack' | RobustAttackName;
  version: AutoAttackVersion;
  /** version 'custom': the attacks in order. */
  attacks?: RobustAttackName[];
  norm: Norm;
  eps: number;
  seed: number;
  precision?: Precision;
  foldBatchNorm?: boolean;
}

/** results.json's numbers for an AutoAttack run, every share over all `count` inputs. */
export interface AutoAttackSummary {
  /** Inputs evaluated. */
  count: number;
  /** Inputs the model classifies correctly, clean. */
  cleanAccuracy: number;
  /** Inputs classified correctly that no attack fooled, over all inputs (RobustBench's robust accuracy). */
  robustAccuracy: number;
  /** Its 95% Wilson score interval. */
  robustAccuracyInterval: [number, number];
  /** `clean`, then the robust accuracy after each attack in the order they ran (the reference's log). */
  robustAccuracyByAttack: Record<string, number>;
  /** Every check, fired or not (robustnessChecks.ts). */
  checks: CheckResult[];
  /** Seconds the attack took (this session's share when resumed). */
  seconds: number;
}

/** What runAutoAttack returns: the summary, as results.json holds it, with the run's own fields. */
export type AutoAttackResults = RunResults<AutoAttackSummary>;

/** The run's model, data set, output folder and spec (the options every attack run takes, and AutoAttack's own). */
export interface AutoAttackRunOptions extends AttackRunnerOptions {
  /** The attacks, budget and seed. */
  spec: AutoAttackSpec;
  /** The model checks (autoAttackChecks), when the caller ran them already. */
  checks?: CheckResult[];
}

/** The version and attacks autoAttack runs for the spec: one attack alone is version 'custom' with just it. */
function specVersion(spec: AutoAttackSpec): { version: AutoAttackVersion; attacks?: RobustAttackName[] } {
  return spec.attack === 'autoattack'
    ? { version: spec.version, ...(spec.attacks ? { attacks: spec.attacks } : {}) }
    : { version: 'custom', attacks: [spec.attack] };
}

/** The spec's attacks with their settings; throws one line for a bad combination. */
export function specPlan(spec: AutoAttackSpec): PlannedAttack[] {
  const v = specVersion(spec);
  return autoAttackPlan(v.version, spec.norm, v.attacks);
}

/**
 * The checks that look at the model, on the first CHECK_INPUTS inputs of the data set (a few
 * forwards and five short PGD runs): every rank of a group gets the same answers.
 */
export async function autoAttackChecks(o: Pick<AutoAttackRunOptions, 'model' | 'dataset' | 'spec'>): Promise<CheckResult[]> {
  const plan = specPlan(o.spec);
  const n = Math.min(CHECK_INPUTS, o.dataset.length);
  const b = toDevice(await o.dataset.load(Array.from({ length: n }, (_, i) => i)), o.model.device);
  try {
    return scope(() => modelChecks(o.model, b, { norm: o.spec.norm, eps: o.spec.eps, plan, random: o.spec.version === 'rand' }));
  } finally {
    b.images.dispose();
    b.labels.dispose();
  }
}

/**
 * Runs (or resumes) AutoAttack into `o.out`: results.json (clean and robust accuracy, its
 * interval, the robust accuracy after each attack, the checks), samples.csv (one line per
 * input) and, with saveExamples, the examples. Across ranks, every rank calls it with the
 * same options; rank 0 writes, and every rank returns the results.
 */
export async function runAutoAttack(o: AutoAttackRunOptions): Promise<AutoAttackResults> {
  const plan = specPlan(o.spec);
  const checks = o.checks ?? (await autoAttackChecks(o));
  return runAttackKind(autoAttackKind(o.spec, plan, checks, !!o.acrossRanks && getWorldSize() > 1), o);
}

const COLUMNS: Column<AutoAttackRecord>[] = [
  ['index', (r) => r.index],
  ['label', (r) => r.label],
  ['clean_prediction', (r) => r.cleanPrediction],
  ['fooled_by', (r) => r.fooledBy ?? ''],
  ['adversarial_prediction', (r) => r.adversarialPrediction],
  ['l2', (r) => r.l2],
  ['linf', (r) => r.linf],
];

/**
 * AutoAttack as a kind: one record per input, the columns above, the summary with the checks.
 * `acrossRanks`: the process group's ranks share each attack's rows (every rank calls it with
 * every batch).
 */
export function autoAttackKind(
  spec: AutoAttackSpec,
  plan: PlannedAttack[],
  checks: CheckResult[],
  acrossRanks = false,
): AttackKind<AutoAttackRecord, AutoAttackSummary> {
  const names = plan.map((p) => p.attack);
  const settings = {
    attack: spec.attack,
    version: specVersion(spec).version,
    norm: spec.norm,
    eps: spec.eps,
    seed: spec.seed,
    attacks: plan,
    ...(spec.precision && spec.precision !== 'fp32' ? { precision: spec.precision } : {}),
    ...(spec.foldBatchNorm === false ? { foldBatchNorm: false } : {}),
  };
  return {
    settings,
    fingerprint: { spec: settings },
    label: `${spec.attack}${spec.attack === 'autoattack' ? ` ${settings.version}` : ''} ${spec.norm} eps ${spec.eps}`,
    sharesRows: acrossRanks,
    attack: (model, batch) =>
      autoAttack(model, batch, {
        ...specVersion(spec),
        acrossRanks,
        norm: spec.norm,
        eps: spec.eps,
        seed: spec.seed,
        ...(settings.precision ? { precision: settings.precision } : {}),
        ...(settings.foldBatchNorm === false ? { foldBatchNorm: false } : {}),
      }),
    columns: () => COLUMNS,
    summarize: (records, seconds) => summarizeAutoAttack(records, seconds, names, checks),
    progress: (records) => ({ 'robust accuracy': robustShare(records) }),
  };
}

function robustShare(records: AutoAttackRecord[]): number {
  return records.length ? records.filter((r) => r.cleanPrediction === r.label && r.fooledBy === null).length / records.length : 0;
}

/** results.json's summary of the records (one per input, in data-set order). */
export function summarizeAutoAttack(
  records: AutoAttackRecord[],
  seconds: number,
  attacks: RobustAttackName[],
  checks: CheckResult[],
): AutoAttackSummary {
  const n = records.length;
  const robust = records.filter((r) => r.cleanPrediction === r.label && r.fooledBy === null).length;
  const byAttack = robustAccuracyByAttack(records, attacks);
  return {
    count: n,
    cleanAccuracy: byAttack.clean!,
    robustAccuracy: n ? robust / n : 0,
    robustAccuracyInterval: wilson(robust, n),
    robustAccuracyByAttack: byAttack,
    checks: [...checks, ...(attacks.includes('square') ? [squareSuccessCheck(byAttack)] : [])],
    seconds: +seconds.toFixed(2),
  };
}
