// Kernel density estimates (against scipy and the exact sum) and the SVG + PNG figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { EXACT_MAX_N, gaussianKde, quantileClip, scottBandwidth } from '../../src/reports/kde.js';
import { kdeFigure, lineFigure, saveFigure, type Figure } from '../../src/reports/figureFiles.js';

// Seeded, so a failure reproduces.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normals(n: number, seed: number): Float64Array {
  const u = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return out;
}

function exactKde(x: ArrayLike<number>, grid: ArrayLike<number>, h: number): Float64Array {
  const out = new Float64Array(grid.length);
  for (let g = 0; g < grid.length; g++) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += Math.exp(-0.5 * ((grid[g]! - x[i]!) / h) ** 2);
    out[g] = s / (x.length * h * Math.sqrt(2 * Math.PI));
  }
  return out;
}
function evenGrid(lo: number, hi: number, n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}
function range(x: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) [lo, hi] = [Math.min(lo, x[i]!), Math.max(hi, x[i]!)];
  return [lo, hi];
}
function trapezoid(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 1; i < x.length; i++) s += ((x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!)) / 2;
  return s;
}

test('scottBandwidth is sd(ddof=1) * n^(-1/5), ignoring non-finite values', () => {
  // [1..5]: mean 3, squared deviations 4+1+0+1+4 = 10, variance 10/4 = 2.5, times 5^(-1/5).
  const hand = Math.sqrt(2.5) * 5 ** -0.2;
  assert.ok(Math.abs(hand - 1.145977269496164) < 1e-15); // numpy: np.sqrt(2.5) * 5**-0.2
  assert.ok(Math.abs(scottBandwidth([1, 2, 3, 4, 5]) - hand) < 1e-15);
  assert.ok(Math.abs(scottBandwidth([1, NaN, 2, 3, Infinity, 4, -Infinity, 5]) - hand) < 1e-15);
  assert.ok(Number.isNaN(scottBandwidth([7])));
  assert.equal(scottBandwidth([2, 2, 2]), 0);
});

test('gaussianKde matches scipy.stats.gaussian_kde and the exact sum for small n', () => {
  const x = [0.3, -1.2, 2.5, 0.0, 0.7, 1.1, -0.4];
  // scipy 1.17: k = gaussian_kde(x); sqrt(k.covariance), k([-2, 0, 0.5, 3])
  assert.ok(Math.abs(scottBandwidth(x) - 0.7995754087792277) < 1e-14);
  const scipy = [0.05737137475380979, 0.30050927061949717, 0.29895802994987847, 0.06430099034101125];
  const d = gaussianKde(x, [-2, 0, 0.5, 3]);
  scipy.forEach((v, i) => assert.ok(Math.abs(d[i]! - v) < 1e-14, `${d[i]} vs scipy ${v}`));

  const y = normals(5000, 1);
  const grid = evenGrid(-5, 5, 101);
  const exact = exactKde(y, grid, 0.3);
  const got = gaussianKde(y, grid, 0.3);
  for (let i = 0; i < grid.length; i++) assert.ok(Math.abs(got[i]! - exact[i]!) <= 1e-12 * exact[i]!);
});

test('the binned path (n >= 20,000) agrees with the exact sum to < 1e-3 relative on the plotting grid', () => {
  const normal = normals(100_000, 2);
  const relu = normals(100_000, 3).map((v) => Math.max(0, v + 0.3)); // ReLU features: a point mass at 0
  const skewed = normals(100_000, 4).map((v) => Math.exp(0.7 * v));
  for (const [name, x] of [
    ['normal', normal],
    ['relu', relu],
    ['lognormal', skewed],
  ] as const) {
    assert.ok(x.length >= EXACT_MAX_N);
    const h = scottBandwidth(x);
    const [lo, hi] = range(x);
    const grid = evenGrid(lo - 3 * h, hi + 3 * h, 256);
    const exact = exactKde(x, grid, h);
    const got = gaussianKde(x, grid);
    let worst = 0;
    for (let i = 0; i < grid.length; i++) {
      // Kernels are cut at 9h; densities below 1e-12 of the peak (empty gaps in a long tail) may read 0.
      if (exact[i]! > 1e-12) worst = Math.max(worst, Math.abs(got[i]! - exact[i]!) / exact[i]!);
      else assert.ok(got[i]! <= 1e-12);
    }
    assert.ok(worst < 1e-3, `${name}: max relative error ${worst.toExponential(2)}`);
  }
});

test('gaussianKde integrates to 1 on both paths and ignores non-finite samples', () => {
  for (const n of [500, 50_000]) {
    const x = normals(n, 5);
    const h = scottBandwidth(x);
    const [lo, hi] = range(x);
    const grid = evenGrid(lo - 8 * h, hi + 8 * h, 4001);
    assert.ok(Math.abs(trapezoid(grid, gaussianKde(x, grid)) - 1) < 1e-6, `n=${n}`);

    const dirty = Float64Array.from([...x, NaN, Infinity, -Infinity, NaN]);
    assert.deepEqual(gaussianKde(dirty, grid), gaussianKde(x, grid));
  }
  assert.throws(() => gaussianKde([1], [0]), /at least 2 finite samples/);
  assert.throws(() => gaussianKde([3, 3, 3, NaN], [0]), /not all equal/);
  assert.throws(() => gaussianKde([1, 2], [0], 0), /bandwidth/);
  assert.ok(gaussianKde([3, 3, 3], [3], 1)[0]! > 0); // an explicit bandwidth works for ties
});

test('quantileClip keeps the values between numpy-style quantiles', () => {
  const x = normals(20_001, 6).map((v) => v * v * v);
  const sorted = x.slice().sort();
  const q = (p: number): number => {
    const pos = p * (sorted.length - 1);
    const k = Math.floor(pos);
    return sorted[k]! + (sorted[Math.min(k + 1, sorted.length - 1)]! - sorted[k]!) * (pos - k);
  };
  const clipped = quantileClip(Float64Array.from([...x, NaN, Infinity]), 0.005, 0.995);
  const want = sorted.filter((v) => v >= q(0.005) && v <= q(0.995));
  assert.deepEqual(clipped.slice().sort(), want);
  assert.equal(quantileClip(x, 0, 1).length, x.length);
  assert.throws(() => quantileClip(x, 0.9, 0.1), /quantiles/);
});

async function checkFigure(fig: Figure, texts: string[]): Promise<void> {
  for (const t of texts) assert.ok(fig.svg.includes(`>${t}<`), `SVG lacks text ${JSON.stringify(t)}`);
  assert.ok(!fig.svg.includes('NaN'), 'SVG contains NaN');
  assert.deepEqual([...fig.png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const meta = await sharp(fig.png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1440, 840]);
  const stats = await sharp(fig.png).stats();
  assert.ok(
    stats.channels.slice(0, 3).every((c) => c.min < c.max),
    'PNG is one flat colour',
  );
  // Text renders: titles and tick labels are the only near-black pixels (axis lines are grey).
  const dark = await darkPixels(fig.png);
  assert.ok(dark > 500, `only ${dark} dark (text) pixels`);
}
async function darkPixels(png: Uint8Array, rows = Infinity): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let dark = 0;
  const end = Math.min(data.length, rows * info.width * info.channels);
  for (let i = 0; i < end; i += info.channels) if (data[i]! < 60 && data[i + 1]! < 60 && data[i + 2]! < 60) dark++;
  return dark;
}
function hasColour(svg: string, hex: string): boolean {
  return svg.toLowerCase().includes(`stroke="${hex}"`);
}

test('kdeFigure draws one density per series with title, axis titles and legend', async () => {
  const a = normals(30_000, 7);
  const b = Float64Array.from(normals(3000, 8), (v) => v * 0.5 + 3);
  const c = [...normals(500, 9).map((v) => v + 6), NaN, Infinity, -Infinity, 1e6]; // 1e6 is clipped away
  const fig = await kdeFigure(
    [
      { label: 'standard', values: a },
      { label: 'adversarial', values: b },
      { label: 'sensitivity', values: c },
      { label: 'dead neuron', values: [4, 4, 4] },
    ],
    { title: 'Scaled neuron sensitivities', xLabel: 'Delta' },
  );
  await checkFigure(fig, [
    'Scaled neuron sensitivities',
    'Delta',
    'Density',
    'standard',
    'adversarial',
    'sensitivity',
    'dead neuron (no spread)',
  ]);
  // matplotlib's colour order: blue, orange, green (lines) and red for the fourth legend entry
  for (const hex of ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728']) assert.ok(hasColour(fig.svg, hex), hex);
  // 1e6 was clipped, so the x axis stays on the data (unclipped, its ticks run to "1,000,000")
  assert.ok(!fig.svg.includes('00,000'));

  const lone = await kdeFigure([{ label: 'only', values: [NaN, 1] }], { title: 'T', xLabel: 'X', yLabel: 'Y' });
  await checkFigure(lone, ['T', 'X', 'Y', 'only (no spread)']);
  await assert.rejects(kdeFigure([], { title: 'T', xLabel: 'X' }), /no series/);
  await assert.rejects(
    kdeFigure(
      [
        { label: 'a', values: [1, 2] },
        { label: 'a', values: [1, 3] },
      ],
      { title: 'T', xLabel: 'X' },
    ),
    /labelled "a"/,
  );
});

test('kdeFigure handles 5 million values (10,000 inputs x 512 neurons)', async () => {
  // (its speed is a benchmark's business, not a unit test's: about 0.5 s here)
  const big = normals(5_000_000, 10).map((v) => Math.exp(v));
  const fig = await kdeFigure([{ label: 'standard', values: big }], { title: 'Big', xLabel: 'Delta' });
  assert.ok(!fig.svg.includes('NaN'));
});

test('lineFigure draws solid and dashed lines, drops non-finite points and respects yDomain', async () => {
  const idx = Array.from({ length: 512 }, (_, i) => i);
  const fig = await lineFigure(
    [
      { label: 'standard', x: idx, y: idx.map((i) => 0.9 - i / 1000) },
      { label: 'adversarial', x: idx, y: idx.map((i) => (i === 7 ? NaN : 0.6 - i / 2000)) },
      { label: 'standard PGD', x: [0, 511], y: [0.95, 0.95], dashed: true },
      { label: 'single', x: [100], y: [0.5] },
      { label: 'empty', x: [1, 2], y: [NaN, Infinity] },
    ],
    { title: 'Attack success rate', xLabel: 'Neuron rank', yLabel: 'Success rate', yDomain: [0, 1] },
  );
  await checkFigure(fig, [
    'Attack success rate',
    'Neuron rank',
    'Success rate',
    'standard',
    'adversarial',
    'standard PGD',
    'single',
    'empty (no data)',
    '1.0',
  ]);
  assert.ok(fig.svg.includes('stroke-dasharray="6,4"'), 'no dashed line');
  // the dashed series is the first dashed one, so it shares the first solid series' blue
  assert.ok(hasColour(fig.svg, '#1f77b4') && hasColour(fig.svg, '#ff7f0e') && hasColour(fig.svg, '#2ca02c'));
  await assert.rejects(lineFigure([{ label: 'a', x: [1, 2], y: [1] }], { title: 'T', xLabel: 'X', yLabel: 'Y' }), /2 x values but 1 y/);
  await assert.rejects(lineFigure([], { title: 'T', xLabel: 'X', yLabel: 'Y' }), /no series/);
});

test('PNG text is drawn with real glyphs, not the boxes of a missing font', async () => {
  // Without fonts every character becomes the same box, so a title of Ws would be as dark as one of is.
  const png = async (title: string) => (await lineFigure([{ label: 'a', x: [0, 1], y: [0, 1] }], { title, xLabel: 'X', yLabel: 'Y' })).png;
  const thin = await darkPixels(await png('iiiiiiiiiiii'), 70);
  const wide = await darkPixels(await png('WWWWWWWWWWWW'), 70);
  assert.ok(wide > 2.5 * thin, `title of Ws has ${wide} dark pixels, of is ${thin}: are fonts installed (Debian: fonts-dejavu-core)?`);
});

test('saveFigure writes the SVG and the PNG', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sauron-fig-'));
  try {
    const fig = await lineFigure([{ label: 'a', x: [0, 1, 2], y: [1, 3, 2] }], { title: 'Saved', xLabel: 'X', yLabel: 'Y' });
    const paths = saveFigure(join(dir, 'figures'), 'fig2', fig);
    assert.deepEqual(paths, { svg: join(dir, 'figures', 'fig2.svg'), png: join(dir, 'figures', 'fig2.png') });
    assert.equal(readFileSync(paths.svg, 'utf8'), fig.svg);
    assert.deepEqual(new Uint8Array(readFileSync(paths.png)), new Uint8Array(fig.png));
    assert.equal((await sharp(paths.png).metadata()).width, 1440);
    assert.throws(() => saveFigure(dir, '../escape', fig), /plain file name/);
    assert.ok(!existsSync(join(dir, 'escape.svg')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
