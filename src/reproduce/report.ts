// The reproduction's outputs, written once every step is done: Table 1 (CSV and Markdown),
// sweep.csv, the figures, report.md and the self-contained report.html.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../serialization/atomic.js';
import { findings } from './findings.js';
import { autoAttackFindings } from './autoAttackFindings.js';
import { galleryHtml, galleryRows } from './gallery.js';
import { layout } from './layout.js';
import type { ReproduceOptions, StepTiming } from './pipeline.js';
import { writeFigures } from './reportFigures.js';
import { escapeHtml, reportHtml } from './reportHtml.js';
import { reportMarkdown } from './reportMarkdown.js';
import { readRows, readSweep } from './reportReaders.js';
import { sweepCsv, table1 } from './reportTables.js';

/** Writes every output of the report; returns report.html's path. */
export async function writeReport(o: ReproduceOptions, timings: StepTiming[], seconds: number): Promise<string> {
  const s = o.settings;
  const rows = readRows(o);
  const t = table1(rows, s.kns.neurons);
  writeFileAtomic(layout.table1Csv(o.out), t.csv);
  writeFileAtomic(layout.table1Md(o.out), t.md);
  const sweep = readSweep(o);
  writeFileAtomic(layout.sweepCsv(o.out), sweepCsv(sweep));
  const figs = await writeFigures(o.out, rows, sweep);
  const pruning = readFileSync(layout.pruningCsv(o.out), 'utf8');
  const fs = [...findings(rows, pruning, s.kns.neurons, s.pruning.limit ?? rows[0]!.testCount), ...autoAttackFindings(rows)];
  const gallery = await galleryRows(o);
  const md = reportMarkdown(o, { rows, table1Md: t.md, sweep, findings: fs, gallery, timings, seconds });
  writeFileAtomic(layout.reportMd(o.out), md);
  writeFileAtomic(layout.reportHtml(o.out), reportHtml(md, o.out, figs, galleryHtml(gallery, escapeHtml)));
  return layout.reportHtml(o.out);
}
