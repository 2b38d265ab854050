// `sauron attack`'s run: PGD or k-NS over a data set as an attack kind of the runner
// (attackRunner.ts), which writes results.json, samples.csv, the examples (.npy) and resumes;
// k-NS also draws its rank-r success curve (success-by-rank.png).
import type { SampleRecord } from '../attacks/attackTypes.js';
import { knsAttack, type KnsConfig } from '../attacks/kns.js';
import { pgdAttack, type PgdConfig } from '../attacks/pgd.js';
import { lineFigure, saveFigure } from '../reports/figureFiles.js';
import { full } from '../tensor/creation.js';
import type { AttackKind } from './attackKind.js';
import { summarizeAttack, type AttackResults, type AttackSummary } from './attackResults.js';
import { runAttackKind, type AttackRunnerOptions } from './attackRunner.js';
import { sampleColumns } from './sampleColumns.js';

/** Which attack {@link runAttack} runs, with its settings: PGD, or k-NS with the neurons' k values. */
export type AttackSpec = ({ attack: 'pgd' } & PgdConfig) | ({ attack: 'kns'; neurons: number[] } & KnsConfig);

/** Options of {@link runAttack}: the model, data set, output folder and the attack. */
export interface AttackRunOptions extends AttackRunnerOptions {
  spec: AttackSpec;
  /** Targeted PGD: every input is pushed towards this class. */
  targetClass?: number;
  /** Draw k-NS's rank-r success figure (default true; `reproduce` draws its own). */
  figures?: boolean;
}

/**
 * Runs (or resumes) a PGD or k-NS attack into `o.out`. Across ranks, every rank calls it with
 * the same options; rank 0 returns the results, and so do the others.
 *
 * @example
 * ```ts
 * const results = await runAttack({ model, dataset: test, out: 'runs/pgd', batchSize: 128,
 *   spec: { attack: 'pgd', norm: 'linf', eps: 8 / 255, iterations: 20, restarts: 1, randomStart: true, seed: 0 } });
 * results.successRate; // a fraction; samples.csv and results.json are in runs/pgd
 * ```
 */
export async function runAttack(o: AttackRunOptions): Promise<AttackResults> {
  return runAttackKind(attackKind(o.spec, o.targetClass, o.figures !== false), o);
}

/** PGD and k-NS as a kind: the records of attacks/attackTypes.ts, their columns and summary. */
export function attackKind(spec: AttackSpec, targetClass: number | undefined, figures: boolean): AttackKind<SampleRecord, AttackSummary> {
  // the feature mean and std are arrays computed from data, not settings: results.json and the
  // fingerprint leave them out
  const settings = { ...spec, featureMean: undefined, featureStd: undefined };
  return {
    settings,
    fingerprint: { spec: settings, targetClass },
    label: `attack ${spec.attack} ${spec.norm} eps ${spec.eps}`,
    attack: (model, batch) => {
      const targets =
        targetClass === undefined ? undefined : full([batch.indices.length], targetClass, { dtype: 'int64', device: batch.images.device });
      return spec.attack === 'pgd' ? pgdAttack(model, { ...batch, targets }, spec) : knsAttack(model, { ...batch, targets }, spec);
    },
    columns: sampleColumns,
    summarize: (records, seconds) => summarizeAttack(records, seconds, spec.attack === 'kns' ? spec : undefined),
    progress: (records) => {
      const inputs = new Set(records.map((x) => x.index)).size;
      const hit = new Set(records.filter((x) => x.success).map((x) => x.index)).size;
      return { 'success rate': inputs ? hit / inputs : 0 };
    },
    figures: spec.attack === 'kns' && figures ? (out, results) => rankFigure(out, results) : undefined,
  };
}

async function rankFigure(out: string, results: AttackSummary): Promise<void> {
  const perRank = results.perRank ?? [];
  const fig = await lineFigure(
    [
      { label: 'rank-r success', x: perRank.map((p) => p.rank), y: perRank.map((p) => p.successRate) },
      { label: 'Delta reached', x: perRank.map((p) => p.rank), y: perRank.map((p) => p.deltaAchieveRate), dashed: true },
    ],
    {
      title: 'Rank-r success: the neuron of rank r attacked alone (Figure 2)',
      xLabel: 'neuron rank (1 = most sensitive for the input)',
      yLabel: 'rate',
      yDomain: [0, 1],
    },
  );
  saveFigure(out, 'success-by-rank', fig);
}
