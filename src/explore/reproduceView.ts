// What the explorer shows of a reproduce folder: Table 1 as rows, the figures the report drew,
// and its line charts as Vega-Lite specs made by the same functions the report uses.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { layout } from '../reproduce/layout.js';
import { FIGURE1_OPTIONS, figure1Series, figure2, sweepFigure } from '../reproduce/reportFigures.js';
import { readRows, readSweep } from '../reproduce/reportReaders.js';
import type { ModelKind, ReproduceSettings } from '../reproduce/settings.js';
import { kdeSpec, lineSpec } from '../reports/figureFiles.js';
import type { ReproduceInfo } from './apiTypes.js';

const FIGURES = ['figure1', 'figure2', 'figure2-l2', 'figure3', 'sweep-l2', 'sweep-linf', 'pruning'];

/** A reproduce folder's Table 1, its figures (as files under the explorer's /files/ route) and its charts. */
export function reproduceInfo(dir: string, id: string, roots: readonly string[]): ReproduceInfo {
  const csv = layout.table1Csv(dir);
  const table1 = existsSync(csv)
    ? readFileSync(csv, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(','))
    : null;
  const root = roots.findIndex((r) => dir === r || dir.startsWith(`${r}/`));
  const rel = dir.slice(roots[root]!.length).replace(/^\//, '');
  const files = new Set(readdirSync(dir));
  const figures = FIGURES.filter((f) => files.has(`${f}.svg`)).map((name) => ({
    name,
    svg: `/files/${root}/${rel ? `${rel}/` : ''}${name}.svg`,
  }));
  return { id, table1, figures, charts: reproduceCharts(dir) };
}

/** The report's figures as Vega-Lite specs, from the same functions the report draws them with. */
function reproduceCharts(dir: string): ReproduceInfo['charts'] {
  const charts: ReproduceInfo['charts'] = [];
  const add = (name: string, make: () => unknown) => {
    try {
      charts.push({ name, spec: make() });
    } catch (e) {
      // an unfinished reproduction lacks some files: say which chart is missing and why
      charts.push({ name, spec: null, error: (e as Error).message });
    }
  };
  let o: { out: string; settings: ReproduceSettings; models?: Partial<Record<ModelKind, string>> };
  try {
    // what the pipeline records: { settings, models, command }
    const saved = JSON.parse(readFileSync(layout.settings(dir), 'utf8')) as {
      settings: ReproduceSettings;
      models?: Partial<Record<ModelKind, string>>;
    };
    if (!saved.settings?.sweep) throw new Error('no reproduce settings in it');
    o = { out: dir, settings: saved.settings, models: saved.models };
  } catch (e) {
    return [{ name: 'settings', spec: null, error: `${layout.settings(dir)}: ${(e as Error).message}` }];
  }
  add('figure1', () => kdeSpec(figure1Series(dir), FIGURE1_OPTIONS));
  for (const norm of ['linf', 'l2'] as const)
    add(norm === 'linf' ? 'figure2' : 'figure2-l2', () => {
      const f = figure2(readRows(o), norm);
      return lineSpec(f.series, f.options);
    });
  for (const norm of ['l2', 'linf'] as const)
    add(`sweep-${norm}`, () => {
      const f = sweepFigure(readSweep(o), norm);
      return lineSpec(f.series, f.options);
    });
  return charts;
}
