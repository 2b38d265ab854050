// One-dimensional Gaussian kernel density estimates that match scipy.stats.gaussian_kde with its
// default (Scott) bandwidth, fast enough for millions of samples (10,000 inputs x 512 neurons).
//
// Non-finite samples (NaN, +-Infinity) are ignored everywhere in this file: a sensitivity of
// Infinity (a neuron that never moves) has no place on a density plot, and one NaN would
// otherwise poison every grid point.

const SQRT_2PI = Math.sqrt(2 * Math.PI);

/** Below this many finite samples gaussianKde sums the kernels exactly. */
export const EXACT_MAX_N = 20_000;
// The binned path spaces bin centres at most h / BINS_PER_H apart. Linear binning replaces each
// kernel by its linear interpolation between two centres, so the relative error of a kernel
// term at u bandwidths is at most (1/BINS_PER_H)^2 * |u^2 - 1| / 8: 6e-5 at u = 3, the
// farthest the nearest sample gets from a grid that reaches 3h past the data, 2e-4 at u = 5.
const BINS_PER_H = 128;
const MIN_BINS = 4096;
// 32 MiB of float64. Needing more takes a data range over 32,768 bandwidths: extreme outliers
// among millions of samples (kdeFigure clips them first) or a tiny explicit bandwidth. Those
// are summed exactly, which is slow but right.
const MAX_BINS = 1 << 22;
// Kernels are cut off at TRUNCATE bandwidths on the binned path: exp(-40.5) < 3e-18 of a
// kernel's peak, so only densities that small relative to their neighbours read as 0.
const TRUNCATE = 9;

/** The finite samples as a Float64Array; the input itself when it already is one with no gaps. */
export function finiteValues(values: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) n++;
  if (n === values.length && values instanceof Float64Array) return values;
  const out = new Float64Array(n);
  let j = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) out[j++] = v;
  }
  return out;
}

function bandwidthOf(x: Float64Array): number {
  const n = x.length;
  if (n < 2) return NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  // Two passes: one pass (sum of squares) loses every digit when the mean dwarfs the spread.
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i]! - mean) ** 2;
  return Math.sqrt(ss / (n - 1)) * n ** -0.2;
}

/**
 * Scott's bandwidth as scipy.stats.gaussian_kde uses it in one dimension: the sample standard
 * deviation (ddof = 1) times n^(-1/5), over the finite samples. NaN with fewer than two finite
 * samples, 0 when they are all equal.
 */
export function scottBandwidth(values: ArrayLike<number>): number {
  return bandwidthOf(finiteValues(values));
}

/**
 * Gaussian kernel density of the finite samples at each grid point; it integrates to 1 over the
 * real line. `bandwidth` is the kernel's standard deviation, Scott's rule (as scipy) by default.
 *
 * With fewer than EXACT_MAX_N finite samples every kernel is summed exactly. With more, the
 * samples are first linearly binned onto evenly spaced centres at most h/128 apart (at least
 * 4096 of them) and the kernels of the weighted centres within 9h of a grid point are summed:
 * the relative error against the exact sum stays below about 1e-4 at grid points within a few
 * bandwidths of the data (far out in empty gaps, densities under ~1e-17 of the peak become 0),
 * and the cost is one pass over the samples plus a few thousand kernel evaluations per grid
 * point. Throws when the bandwidth is not a positive number, which is the
 * default for fewer than two finite samples or samples that are all equal.
 */
export function gaussianKde(values: ArrayLike<number>, grid: ArrayLike<number>, bandwidth?: number): Float64Array {
  const x = finiteValues(values);
  const h = bandwidth ?? bandwidthOf(x);
  if (!(h > 0) || !Number.isFinite(h)) {
    throw new RangeError(
      bandwidth === undefined
        ? `gaussianKde needs at least 2 finite samples that are not all equal (got ${x.length} finite of ${values.length})`
        : `gaussianKde: bandwidth must be a positive finite number, got ${bandwidth}`,
    );
  }
  if (x.length === 0) throw new RangeError('gaussianKde: no finite samples');
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const bins = Math.max(MIN_BINS, Math.ceil(((hi - lo) / h) * BINS_PER_H) + 1);
  const out = new Float64Array(grid.length);
  if (x.length < EXACT_MAX_N || bins > MAX_BINS || hi === lo) {
    const norm = 1 / (x.length * h * SQRT_2PI);
    for (let g = 0; g < grid.length; g++) {
      const at = grid[g]!;
      let s = 0;
      for (let i = 0; i < x.length; i++) {
        const u = (at - x[i]!) / h;
        s += Math.exp(-0.5 * u * u);
      }
      out[g] = s * norm;
    }
    return out;
  }
  const step = (hi - lo) / (bins - 1);
  const w = new Float64Array(bins);
  for (let i = 0; i < x.length; i++) {
    const t = (x[i]! - lo) / step;
    const j = Math.min(Math.floor(t), bins - 2);
    const f = t - j;
    w[j]! += 1 - f;
    w[j + 1]! += f;
  }
  const norm = 1 / (x.length * h * SQRT_2PI);
  const reach = (TRUNCATE * h) / step;
  for (let g = 0; g < grid.length; g++) {
    const at = grid[g]!;
    if (Number.isNaN(at)) {
      out[g] = NaN; // as the exact sum gives
      continue;
    }
    const c = (at - lo) / step;
    const j0 = Math.max(0, Math.ceil(c - reach));
    const j1 = Math.min(bins - 1, Math.floor(c + reach));
    let s = 0;
    for (let j = j0; j <= j1; j++) {
      const u = ((j - c) * step) / h;
      s += w[j]! * Math.exp(-0.5 * u * u);
    }
    out[g] = s * norm;
  }
  return out;
}

// Hoare selection with a random pivot: puts the k-th smallest of a[left..right] at a[k], smaller
// ones before it. Linear on average, and many equal values (ReLU zeros) keep it balanced.
function select(a: Float64Array, k: number, left: number, right: number): void {
  while (right > left) {
    const pivot = a[left + Math.floor(Math.random() * (right - left + 1))]!;
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return;
  }
}

/**
 * The finite samples between the lo-th and hi-th quantiles (inclusive, linear interpolation as
 * numpy.quantile's default), in no particular order. Found by selection, not sorting, so it
 * stays fast on millions of samples.
 */
export function quantileClip(values: ArrayLike<number>, lo: number, hi: number): Float64Array {
  if (!(lo >= 0 && hi <= 1 && lo <= hi)) throw new RangeError(`quantiles must satisfy 0 <= lo <= hi <= 1, got [${lo}, ${hi}]`);
  const x = finiteValues(values);
  if (x.length < 2 || (lo === 0 && hi === 1)) return x;
  const a = x.slice();
  const n = a.length;
  const at = (q: number, from: number): number => {
    const pos = q * (n - 1);
    const k = Math.floor(pos);
    select(a, k, from, n - 1);
    if (pos === k) return a[k]!;
    let next = Infinity;
    for (let i = k + 1; i < n; i++) if (a[i]! < next) next = a[i]!;
    return a[k]! + (next - a[k]!) * (pos - k);
  };
  const qlo = at(lo, 0);
  const qhi = at(hi, Math.floor(lo * (n - 1)));
  let m = 0;
  for (let i = 0; i < n; i++) if (a[i]! >= qlo && a[i]! <= qhi) a[m++] = a[i]!;
  return a.subarray(0, m);
}
