// The files of a reproduce folder, named once: the pipeline writes them, the report reads them.
import { join } from 'node:path';
import type { Norm } from '../attacks/budget.js';
import type { ModelKind } from './settings.js';

export interface ReproduceFolder {
  out: string;
  /** Trained runs used instead of training (model folders outside `out`). */
  models?: Partial<Record<ModelKind, string>>;
}

export const layout = {
  model: (o: ReproduceFolder, kind: ModelKind) => o.models?.[kind] ?? join(o.out, 'models', kind),
  sensitivity: (out: string, kind: ModelKind) => join(out, 'sensitivity', kind),
  scaledSample: (out: string, kind: ModelKind) => join(out, 'sensitivity', kind, 'scaled_sample.npy'),
  attack: (out: string, kind: ModelKind, norm: Norm | string, attack: 'pgd' | 'kns' | string) =>
    join(out, 'attacks', kind, `${norm}-${attack}`),
  attackResults: (out: string, kind: ModelKind, norm: Norm | string, attack: 'pgd' | 'kns' | string) =>
    join(out, 'attacks', kind, `${norm}-${attack}`, 'results.json'),
  /** One budget-sweep attack: `sweep/<kind>/<norm>-<eps>-<attack>` (eps with up to 6 decimals). */
  sweep: (out: string, kind: ModelKind, norm: Norm, eps: number, attack: 'pgd' | 'kns') =>
    join(out, 'sweep', kind, `${norm}-${+eps.toFixed(6)}-${attack}`),
  sweepCsv: (out: string) => join(out, 'sweep.csv'),
  pruning: (out: string) => join(out, 'pruning'),
  pruningCsv: (out: string) => join(out, 'pruning', 'pruning.csv'),
  steps: (out: string) => join(out, 'steps'),
  settings: (out: string) => join(out, 'settings.json'),
  table1Csv: (out: string) => join(out, 'table1.csv'),
  table1Md: (out: string) => join(out, 'table1.md'),
  reportMd: (out: string) => join(out, 'report.md'),
  reportHtml: (out: string) => join(out, 'report.html'),
};
