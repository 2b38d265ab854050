// The reproduction's figures: Figure 1 (scaled sensitivities), Figure 2 (rank-r success, L2
// and Linf), Figure 3 (mean activations), the budget sweeps, and the pruning plot
// copied from its step. `sauron explore` draws the same series as interactive charts.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIGURE1_CLIP, scaledActivations } from '../analysis/sensitivityFigures.js';
import { readFeatureStats } from '../analysis/sensitivityFiles.js';
import type { Norm } from '../attacks/budget.js';
import {
  kdeFigure,
  lineFigure,
  saveFigure,
  type KdeOptions,
  type LineOptions,
  type LineSeries,
  type Series,
} from '../reports/figureFiles.js';
import { loadNpy } from '../serialization/npy.js';
import { scope } from '../tensor/scope.js';
import { layout } from './layout.js';
import type { ModelRow, SweepPoint } from './reportReaders.js';
import { MODEL_KINDS, MODEL_TITLES } from './settings.js';

/** Figure 1's series: each model's sample of finite scaled sensitivities. */
export function figure1Series(out: string): Series[] {
  return scope(() =>
    MODEL_KINDS.map((kind) => ({ label: MODEL_TITLES[kind], values: loadNpy(layout.scaledSample(out, kind)).toFloat32Array() })),
  );
}

export const FIGURE1_OPTIONS: KdeOptions = {
  title: 'Scaled neuron sensitivities (Figure 1)',
  xLabel: '(Delta(i, x) - mean_i) / std_i',
  yLabel: 'density',
  clipQuantiles: FIGURE1_CLIP,
};

/** Figure 2: rank-r success against r, with PGD's success rate as a dashed level. */
export function figure2(rows: ModelRow[], norm: Norm): { series: LineSeries[]; options: LineOptions } {
  const series = MODEL_KINDS.flatMap((kind) => {
    const row = rows.find((r) => r.kind === kind)!;
    const pr = row[norm].perRank;
    return [
      { label: `${MODEL_TITLES[kind]}: rank-r success`, x: pr.map((p) => p.rank), y: pr.map((p) => p.successRate) },
      { label: `${MODEL_TITLES[kind]}: PGD`, x: [pr[0]!.rank, pr[pr.length - 1]!.rank], y: [row[norm].pgd, row[norm].pgd], dashed: true },
    ];
  });
  return {
    series,
    options: {
      title: `${norm === 'l2' ? 'L2' : 'Linf'} rank-r success: the neuron of rank r attacked alone (Figure 2)`,
      xLabel: 'neuron rank (1 = most sensitive for the input)',
      yLabel: 'attack success rate',
      yDomain: [0, 1],
    },
  };
}

/** The budget sweep: success against eps, PGD solid and 1-NS dashed. */
export function sweepFigure(sweep: SweepPoint[], norm: Norm): { series: LineSeries[]; options: LineOptions } {
  const pts = sweep.filter((p) => p.norm === norm);
  const series = MODEL_KINDS.flatMap((kind) =>
    (['pgd', 'kns'] as const).map((attack) => {
      const ps = pts.filter((p) => p.kind === kind && p.attack === attack);
      return {
        label: `${MODEL_TITLES[kind]}: ${attack === 'pgd' ? 'PGD' : '1-NS'}`,
        x: ps.map((p) => p.eps),
        y: ps.map((p) => p.successRate),
        dashed: attack === 'kns',
      };
    }),
  );
  return {
    series,
    options: {
      title: `${norm === 'l2' ? 'L2' : 'Linf'} attack success against the budget`,
      xLabel: `${norm === 'l2' ? 'L2' : 'Linf'} eps`,
      yLabel: 'attack success rate',
      yDomain: [0, 1],
    },
  };
}

/** Draws every figure into the folder (PNG and SVG); returns their names. */
export async function writeFigures(out: string, rows: ModelRow[], sweep: SweepPoint[]): Promise<string[]> {
  const f1 = await kdeFigure(figure1Series(out), FIGURE1_OPTIONS);
  saveFigure(out, 'figure1', f1);
  for (const norm of ['linf', 'l2'] as const) {
    const f = figure2(rows, norm);
    saveFigure(out, norm === 'linf' ? 'figure2' : 'figure2-l2', await lineFigure(f.series, f.options));
  }
  const means = MODEL_KINDS.map((kind) => readFeatureStats(layout.sensitivity(out, kind)).mean);
  const f3 = await kdeFigure(
    MODEL_KINDS.map((kind, k) => ({
      label: `${MODEL_TITLES[kind]} (${rows.find((r) => r.kind === kind)!.deadFeatures} of ${rows.find((r) => r.kind === kind)!.featureDim} features always 0)`,
      values: scaledActivations(means[k]!),
    })),
    {
      title: 'Mean feature activation, min-max scaled (Figure 3)',
      xLabel: 'scaled mean activation',
      yLabel: 'density',
      clipQuantiles: [0, 1],
    },
  );
  saveFigure(out, 'figure3', f3);
  for (const norm of ['l2', 'linf'] as const) {
    const f = sweepFigure(sweep, norm);
    saveFigure(out, `sweep-${norm}`, await lineFigure(f.series, f.options));
  }
  for (const ext of ['png', 'svg']) copyFileSync(join(layout.pruning(out), `pruning.${ext}`), join(out, `pruning.${ext}`));
  return ['figure1', 'figure2', 'figure2-l2', 'figure3', 'sweep-l2', 'sweep-linf', 'pruning'];
}
