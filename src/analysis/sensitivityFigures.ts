// The paper's Figure 1 (distribution of scaled sensitivities) and Figure 3 (min-max scaled
// feature activations) for one model or several overlaid.
import { kdeFigure, saveFigure } from '../reports/figureFiles.js';
import type { SensitivityResult } from './sensitivity.js';

/** Figure 1 drops the outer 5% of scaled values on each side: near-dead neurons scale by a tiny std. */
export const FIGURE1_CLIP: [number, number] = [0.05, 0.95];

/** Per-neuron mean activation, min-max scaled across neurons to [0, 1]. */
export function scaledActivations(mean: ArrayLike<number>): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let j = 0; j < mean.length; j++) {
    lo = Math.min(lo, mean[j]!);
    hi = Math.max(hi, mean[j]!);
  }
  const span = hi - lo;
  return Float64Array.from(mean as ArrayLike<number>, (v) => (span > 0 ? (v - lo) / span : 0));
}

export async function sensitivityFigures(dir: string, runs: { name: string; result: SensitivityResult }[]): Promise<string[]> {
  const kde = await kdeFigure(
    runs.map((r) => ({ label: r.name, values: r.result.scaledSample })),
    {
      title: 'Scaled neuron sensitivities (Figure 1)',
      xLabel: '(Delta(i, x) - mean_i) / std_i',
      yLabel: 'density',
      clipQuantiles: FIGURE1_CLIP,
    },
  );
  const act = await kdeFigure(
    runs.map((r) => ({
      label: `${r.name}: ${r.result.deadFeatures} of ${r.result.featureDim} features always zero`,
      values: scaledActivations(r.result.stats.mean),
    })),
    {
      title: 'Mean feature activation, min-max scaled (Figure 3)',
      xLabel: 'scaled mean activation',
      yLabel: 'density',
      clipQuantiles: [0, 1],
    },
  );
  saveFigure(dir, 'delta-kde', kde);
  saveFigure(dir, 'activations', act);
  return ['delta-kde.png', 'delta-kde.svg', 'activations.png', 'activations.svg'];
}
