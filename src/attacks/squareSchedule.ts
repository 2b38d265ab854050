// Square's geometry as numbers, with square.py's arithmetic (float64, Python's rounding): the
// schedule of p, the side of the square that follows from it, the L2 windows' profile (eta)
// and the grid of windows the L2 start is drawn on.

/** p_selection's query thresholds: past each one, p is halved once more. */
export const P_THRESHOLDS = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000] as const;

/**
 * square.py's p_selection: the fraction of the image the square of query `it` (0-based, after
 * the start point) covers. `rescale` (resc_schedule) stretches the thresholds, made for 10,000
 * queries, over `queries`; AutoAttack turns it off.
 */
export function pSelection(it: number, pInit: number, queries: number, rescale: boolean): number {
  // int(it / n_queries * 10000): the same float64 operations, truncated as int() does
  const at = rescale ? Math.trunc((it / queries) * 10000) : it;
  let halvings = 0;
  while (halvings < P_THRESHOLDS.length && at > P_THRESHOLDS[halvings]!) halvings++;
  return halvings === 0 ? pInit : pInit / 2 ** halvings;
}

/** Python 3's round(): halves go to the even neighbour (JS's Math.round sends them up). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The side of the square for p on a [c, h, w] image: round(sqrt(p * h * w)) pixels, at least 1
 * (Linf) or an odd number at least 3 (L2), at most the image's shorter side.
 */
export function squareSide(p: number, shape: readonly [number, number, number], norm: 'l2' | 'linf'): number {
  const [c, h, w] = shape;
  const nFeatures = c * h * w;
  let s = roundHalfEven(Math.sqrt((p * nFeatures) / c));
  if (norm === 'linf') s = Math.max(s, 1);
  else {
    s = Math.max(s, 3);
    if (s % 2 === 0) s += 1;
  }
  return Math.min(s, Math.min(h, w));
}

/**
 * eta_rectangles(x, y) for L2: nested rectangles around the centre, the k-th (from 0) adding
 * 1 / (k + 1)^2, scaled to unit L2 norm. Row-major [x, y].
 */
function etaRectangles(x: number, y: number): Float64Array {
  const d = new Float64Array(x * y);
  const xc = Math.floor(x / 2) + 1;
  const yc = Math.floor(y / 2) + 1;
  let [r0, c0] = [xc - 1, yc - 1];
  for (let k = 0; k < Math.max(xc, yc); k++) {
    const v = 1 / (k + 1) ** 2;
    for (let i = Math.max(r0, 0); i < Math.min(r0 + 2 * k + 1, x); i++) {
      for (let j = Math.max(c0, 0); j < Math.min(c0 + 2 * k + 1, y); j++) d[i * y + j]! += v;
    }
    r0 -= 1;
    c0 -= 1;
  }
  return unitL2(d);
}

function unitL2(d: Float64Array): Float64Array {
  let n = 0;
  for (const v of d) n += v * v;
  n = Math.sqrt(n);
  return d.map((v) => v / n);
}

/**
 * eta(s) for L2, before its random transposition: the top s // 2 rows one bump, the rest the
 * same bump negated, unit L2 norm. Row-major [s, s]; the caller transposes it when its draw says so.
 */
export function etaL2(s: number): Float64Array {
  const top = Math.floor(s / 2);
  const a = etaRectangles(top, s);
  const b = etaRectangles(s - top, s);
  const d = new Float64Array(s * s);
  d.set(a, 0);
  for (let k = 0; k < b.length; k++) d[top * s + k] = -b[k]!;
  return unitL2(d);
}

/**
 * The windows the L2 start places an eta on: squares of side h // 5, from (h - 5 * side) // 2
 * in both directions, h // side down and w // side across, row by row. square.py fails on
 * images where a window runs past the edge (h = 14 or 24, most h != w); those windows are
 * left out here.
 */
export function l2StartWindows(h: number, w: number): { side: number; corners: [number, number][] } {
  const side = Math.floor(h / 5);
  if (side < 1) throw new RangeError(`Square's L2 start needs images at least 5 pixels high, got ${h}`);
  const start = Math.floor((h - side * 5) / 2);
  const corners: [number, number][] = [];
  for (let a = 0, vh = start; a < Math.floor(h / side); a++, vh += side) {
    for (let b = 0, vw = start; b < Math.floor(w / side); b++, vw += side) {
      if (vh + side <= h && vw + side <= w) corners.push([vh, vw]);
    }
  }
  return { side, corners };
}
