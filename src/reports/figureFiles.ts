// Figures as files a person opens elsewhere: each is an SVG (vega-lite, rendered without a
// canvas) and a PNG made from that SVG with sharp, 720 x 420 px drawn at scale 2.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../serialization/atomic.js';
import { finiteValues, gaussianKde, quantileClip, scottBandwidth } from './kde.js';

/** Samples whose density is drawn. */
export interface Series {
  label: string;
  values: ArrayLike<number>;
}
export interface LineSeries {
  label: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /**
   * Draw dashed. Solid and dashed series take colours in order separately (the first dashed
   * series is blue like the first solid one), so a dashed reference line shares the colour of
   * the solid series it accompanies, as the PGD baselines in the paper's Figure 2.
   */
  dashed?: boolean;
}
export interface Figure {
  svg: string;
  png: Uint8Array;
}

const WIDTH = 720;
const HEIGHT = 420;
const PNG_SCALE = 2;
// matplotlib's default colour cycle (tab10), which the paper's figures use: blue, orange, green, ...
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const SOLID = [1, 0];
const DASHED = [6, 4];

interface Row {
  s: string;
  x: number;
  y: number;
  i: number;
  single: boolean;
}
interface Entry {
  label: string;
  color: string;
  dash: number[];
  empty: boolean;
}

function checkLabels(series: { label: string }[], what: string): void {
  if (series.length === 0) throw new Error(`${what}: no series to draw (the series list is empty)`);
  const seen = new Set<string>();
  for (const { label } of series) {
    if (seen.has(label))
      throw new Error(`${what}: two series are labelled ${JSON.stringify(label)}; labels name the legend entries and must differ`);
    seen.add(label);
  }
}

/** The Vega-Lite spec of a figure: the PNG/SVG files and the explorer's interactive charts draw the same one. */
function figureSpec(
  rows: Row[],
  entries: Entry[],
  opts: { title: string; xLabel: string; yLabel: string; yDomain?: [number, number] },
): TopLevelSpec {
  // One legend for colour and dash together: both are keyed by the label with explicit domains,
  // which also keeps entries for series that have nothing to draw. Below the plot, so long
  // labels do not squeeze it.
  // Vega lays the columns out at their full width even past the figure's edge, so use as many
  // columns (up to 3) as the longest label allows; DejaVu Sans at 12 px averages < 7.5 px a
  // character, and the legend starts where the plot does, after the y axis' labels.
  const item = Math.max(...entries.map((e) => e.label.length)) * 8 + 60;
  const columns = Math.max(1, Math.min(entries.length, 3, Math.floor((WIDTH - 160) / item)));
  const legend =
    entries.length > 1 || entries.some((e) => e.empty)
      ? {
          title: null,
          orient: 'bottom',
          direction: 'horizontal',
          columns,
          symbolType: 'stroke',
          symbolSize: 400,
          symbolStrokeWidth: 2.5,
          symbolOpacity: 1,
          labelLimit: WIDTH - 80,
          columnPadding: 24,
        }
      : null;
  const domain = entries.map((e) => e.label);
  const color = { field: 's', type: 'nominal', scale: { domain, range: entries.map((e) => e.color) }, legend };
  const spec = {
    width: WIDTH,
    height: HEIGHT,
    autosize: { type: 'fit', contains: 'padding' },
    // extra room above: with a long legend, 'fit' leaves the title flush with the top edge
    padding: { top: 18, bottom: 10, left: 10, right: 10 },
    background: 'white',
    title: { text: opts.title, fontSize: 16, frame: 'bounds' },
    config: {
      font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
      axis: { labelFontSize: 12, titleFontSize: 13, titlePadding: 8 },
      legend: { labelFontSize: 12 },
    },
    data: { values: rows },
    encoding: {
      // With nothing to draw, unit axes rather than a lone "0.000000" tick.
      x: { field: 'x', type: 'quantitative', title: opts.xLabel, scale: rows.length ? { zero: false } : { domain: [0, 1] } },
      y: {
        field: 'y',
        type: 'quantitative',
        title: opts.yLabel,
        scale: { ...(rows.length ? {} : { domain: [0, 1] }), ...(opts.yDomain ? { domain: opts.yDomain } : {}) },
      },
      color,
    },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 2, clip: true },
        encoding: {
          strokeDash: { field: 's', type: 'nominal', scale: { domain, range: entries.map((e) => e.dash) }, legend },
          order: { field: 'i', type: 'quantitative' }, // input order, so a curve need not be monotone in x
        },
      },
      // A line through one point draws nothing; show such points as dots.
      { transform: [{ filter: 'datum.single' }], mark: { type: 'point', filled: true, size: 40, clip: true } },
    ],
  } as unknown as TopLevelSpec;
  return spec;
}

async function render(spec: TopLevelSpec): Promise<Figure> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = await sharp(Buffer.from(svg), { density: 72 * PNG_SCALE })
      .png()
      .toBuffer();
    return { svg, png };
  } finally {
    view.finalize();
  }
}

/**
 * Kernel density of each series, one curve per series (Gaussian kernel, Scott's bandwidth as
 * scipy.stats.gaussian_kde), on `gridPoints` (256) even points from min - 3h to max + 3h of the
 * series' clipped values. Non-finite values are ignored. Values outside `clipQuantiles` of
 * each series are dropped first unless that leaves no spread. A series with fewer than two
 * finite values or no spread draws nothing and is listed in the legend with "(no spread)".
 */
export async function kdeFigure(series: Series[], opts: KdeOptions): Promise<Figure> {
  return render(kdeSpec(series, opts));
}

export interface KdeOptions {
  title: string;
  xLabel: string;
  yLabel?: string;
  /** drop values outside these quantiles before the KDE so a few huge values do not flatten the plot; default [0.005, 0.995] */
  clipQuantiles?: [number, number];
  gridPoints?: number;
}

/** kdeFigure's Vega-Lite spec (the densities computed, as data rows). */
export function kdeSpec(series: Series[], opts: KdeOptions): TopLevelSpec {
  checkLabels(series, 'kdeFigure');
  const [qlo, qhi] = opts.clipQuantiles ?? [0.005, 0.995];
  const points = opts.gridPoints ?? 256;
  if (!Number.isInteger(points) || points < 2) throw new RangeError(`kdeFigure: gridPoints must be an integer >= 2, got ${points}`);
  const rows: Row[] = [];
  const entries: Entry[] = [];
  series.forEach((s, k) => {
    let x = quantileClip(s.values, qlo, qhi);
    let h = scottBandwidth(x);
    if (!(h > 0)) {
      // Clipping can leave only ties (say 99.6% zeros): then the full data is the better picture.
      x = finiteValues(s.values);
      h = scottBandwidth(x);
    }
    const ok = h > 0 && Number.isFinite(h);
    entries.push({ label: ok ? s.label : `${s.label} (no spread)`, color: PALETTE[k % PALETTE.length]!, dash: SOLID, empty: !ok });
    if (!ok) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < x.length; i++) {
      lo = Math.min(lo, x[i]!);
      hi = Math.max(hi, x[i]!);
    }
    const grid = new Float64Array(points);
    for (let i = 0; i < points; i++) grid[i] = lo - 3 * h + ((hi - lo + 6 * h) * i) / (points - 1);
    const density = gaussianKde(x, grid, h);
    for (let i = 0; i < points; i++) rows.push({ s: entries[k]!.label, x: grid[i]!, y: density[i]!, i, single: false });
  });
  return figureSpec(rows, entries, { title: opts.title, xLabel: opts.xLabel, yLabel: opts.yLabel ?? 'Density' });
}

/**
 * Lines through (x[i], y[i]) in the given order. Points with a non-finite coordinate are left
 * out; a series with no finite point is listed in the legend with "(no data)". `yDomain` fixes
 * the y axis (for rates, [0, 1]); lines outside it are clipped.
 */
export async function lineFigure(series: LineSeries[], opts: LineOptions): Promise<Figure> {
  return render(lineSpec(series, opts));
}

export interface LineOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  yDomain?: [number, number];
}

/** lineFigure's Vega-Lite spec. */
export function lineSpec(series: LineSeries[], opts: LineOptions): TopLevelSpec {
  checkLabels(series, 'lineFigure');
  if (opts.yDomain && !(opts.yDomain[0] < opts.yDomain[1]))
    throw new RangeError(`lineFigure: yDomain must be [low, high] with low < high, got [${opts.yDomain}]`);
  const rows: Row[] = [];
  const entries: Entry[] = [];
  const used = { solid: 0, dashed: 0 };
  for (const s of series) {
    if (s.x.length !== s.y.length)
      throw new Error(`lineFigure: series ${JSON.stringify(s.label)} has ${s.x.length} x values but ${s.y.length} y values`);
    const start = rows.length;
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (Number.isFinite(x) && Number.isFinite(y)) rows.push({ s: s.label, x, y, i, single: false });
    }
    const n = rows.length - start;
    const label = n === 0 ? `${s.label} (no data)` : s.label;
    if (n === 1) rows[start]!.single = true;
    const c = s.dashed ? used.dashed++ : used.solid++;
    entries.push({ label, color: PALETTE[c % PALETTE.length]!, dash: s.dashed ? DASHED : SOLID, empty: n === 0 });
  }
  return figureSpec(rows, entries, opts);
}

/** Writes DIR/basename.svg and DIR/basename.png, each atomically (a reader never sees half a file). */
export function saveFigure(dir: string, basename: string, fig: Figure): { svg: string; png: string } {
  if (!basename || /[/\\]/.test(basename))
    throw new Error(`saveFigure: basename must be a plain file name without folders, got ${JSON.stringify(basename)}`);
  mkdirSync(dir, { recursive: true });
  const paths = { svg: join(dir, `${basename}.svg`), png: join(dir, `${basename}.png`) };
  writeFileAtomic(paths.svg, fig.svg);
  writeFileAtomic(paths.png, fig.png);
  return paths;
}
