// `sauron attack --attack autoattack` (and its attacks alone: --attack apgd-ce, ...): the options
// only AutoAttack takes, the refusal of PGD's and k-NS's options with it (and of its options
// with them), and the run with its checks printed as warnings.
import { Option, type Command } from 'commander';
import { AUTOATTACK_VERSIONS, ROBUST_ATTACKS, type AutoAttackVersion } from '../attacks/autoattack.js';
import type { RobustAttackName } from '../attacks/robustAttackTypes.js';
import type { CheckResult } from '../attacks/robustnessChecks.js';
import type { Norm } from '../attacks/threat.js';
import { autoAttackChecks, runAutoAttack, specPlan, type AutoAttackSpec } from '../experiments/autoAttackRun.js';
import type { Precision } from '../tensor/device.js';
import { openAttackModels, type ModelDataCli } from './modelDataOptions.js';
import { ProgressBar } from './progressDisplay.js';
import { inGroup } from './helpGroups.js';

/** --attack's AutoAttack names: the whole cascade, or one of its attacks alone. */
export const AUTOATTACK_CHOICES = ['autoattack', ...ROBUST_ATTACKS] as const;

export function isAutoAttack(attack: string): attack is AutoAttackSpec['attack'] {
  return (AUTOATTACK_CHOICES as readonly string[]).includes(attack);
}

export function addAutoAttackOptions(cmd: Command): Command {
  return inGroup(cmd, 'AutoAttack:', (c) =>
    c
      .addOption(
        new Option(
          '--version <v>',
          "standard (APGD-CE, APGD-T, FAB-T, Square: RobustBench's), plus (six attacks, " +
            'more restarts), rand (APGD-CE and APGD-DLR with EOT over 20 draws, for random models) or custom (--attacks)',
        )
          .choices([...AUTOATTACK_VERSIONS])
          .default('standard'),
      )
      .option('--attacks <list>', `--version custom: the attacks in order, of ${ROBUST_ATTACKS.join(', ')}`),
  );
}

interface AutoAttackCli extends ModelDataCli {
  attack: string;
  version: AutoAttackVersion;
  attacks?: string;
  norm: Norm;
  eps: number;
  seed: number;
  precision: Precision;
  foldBatchNorm: boolean;
  batchSize: number;
  saveExamples?: boolean;
  targetModel?: string;
  out: string;
  resume?: boolean;
}

/** PGD's and k-NS's own options, by attribute name: refused with AutoAttack. */
const PGD_KNS_ONLY = [
  'iterations',
  'stepSize',
  'restarts',
  'randomStart',
  'targetClass',
  'earlyStop',
  'against',
  'neurons',
  'ranks',
  'lambda',
  'fakeRelu',
  'sensitivity',
  'statsSplit',
];

/** The flags of the options stored under these attributes that the command line set. */
function given(cmd: Command, attributes: string[]): string[] {
  return attributes
    .filter((a) => cmd.getOptionValueSource(a) === 'cli')
    .map((a) =>
      cmd.options
        .filter((o) => o.attributeName() === a)
        .map((o) => o.long)
        .join(' / '),
    );
}

/** PGD and k-NS refuse --version and --attacks. */
export function refuseAutoAttackOptions(attack: string, cmd: Command): void {
  const set = given(cmd, ['version', 'attacks']);
  if (set.length) throw new Error(`${set[0]} applies to --attack autoattack, not --attack ${attack}`);
}

/** The run's spec from the command line; one line for a bad combination. */
export function autoAttackSpec(o: AutoAttackCli, cmd: Command): AutoAttackSpec {
  const attack = o.attack as AutoAttackSpec['attack'];
  const foreign = given(cmd, PGD_KNS_ONLY);
  if (foreign.length) throw new Error(`${foreign[0]} is an option of --attack pgd or kns, not of --attack ${attack}`);
  if (attack !== 'autoattack') {
    const set = given(cmd, ['version', 'attacks']);
    if (set.length) throw new Error(`${set[0]} applies to --attack autoattack; --attack ${attack} runs that attack alone`);
  }
  if (o.attacks !== undefined && o.version !== 'custom')
    throw new Error(`--attacks needs --version custom (--version ${o.version} sets its own attacks)`);
  if (attack === 'autoattack' && o.version === 'custom' && o.attacks === undefined)
    throw new Error(`--version custom needs --attacks, a list of ${ROBUST_ATTACKS.join(', ')}`);
  const attacks = o.attacks?.split(',').map((s) => s.trim()) as RobustAttackName[] | undefined;
  const spec: AutoAttackSpec = {
    attack,
    version: attack === 'autoattack' ? o.version : 'custom',
    ...(attack === 'autoattack' && attacks ? { attacks } : {}),
    norm: o.norm,
    eps: o.eps,
    seed: o.seed,
    ...(o.precision === 'fp32' ? {} : { precision: o.precision }),
    ...(o.foldBatchNorm ? {} : { foldBatchNorm: false }),
  };
  try {
    specPlan(spec);
  } catch (e) {
    throw new Error(`--attacks: ${(e as Error).message}`);
  }
  return spec;
}

function warn(c: CheckResult): void {
  if (c.fired) console.error(`warning (${c.id}): ${c.message}`);
}

/** Runs AutoAttack for `sauron attack`: the checks first (fired ones to stderr), then the attack; rank 0 prints the summary line. */
export async function autoAttackAction(o: AutoAttackCli, cmd: Command, lead: boolean, world: number): Promise<void> {
  const spec = autoAttackSpec(o, cmd);
  const { ds, model, target, meta } = await openAttackModels(o);
  try {
    const checks = await autoAttackChecks({ model, dataset: ds, spec });
    if (lead) checks.forEach(warn);
    const bar = new ProgressBar();
    if (lead) bar.start(`${spec.attack}${spec.attack === 'autoattack' ? ` ${spec.version}` : ''} ${o.norm} eps ${+o.eps.toFixed(6)}`);
    const results = await runAutoAttack({
      model,
      dataset: ds,
      spec,
      checks,
      out: o.out,
      batchSize: o.batchSize,
      saveExamples: o.saveExamples,
      targetModel: target,
      resume: o.resume,
      meta,
      acrossRanks: world > 1,
      onProgress: (p) => bar.update(p.done, p.total, p.stats),
    });
    bar.finish();
    if (!lead) return;
    results.checks.filter((c) => c.id === 'square-success').forEach(warn);
    console.log(
      JSON.stringify({
        out: o.out,
        count: results.count,
        cleanAccuracy: results.cleanAccuracy,
        robustAccuracy: results.robustAccuracy,
        robustAccuracyInterval: results.robustAccuracyInterval,
        robustAccuracyByAttack: results.robustAccuracyByAttack,
        seconds: results.seconds,
        ...(results.transfer ? { transfer: results.transfer } : {}),
      }),
    );
  } finally {
    model.dispose();
    target?.dispose();
  }
}
