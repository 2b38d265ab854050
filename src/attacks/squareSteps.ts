// Square's moves on a batch of rows, each row with its own window and signs (square.py draws
// one window for the whole batch; here every row draws its own, from its own stream): the
// starts (Linf: vertical stripes of +-eps; L2: an eta bump of random sign per window of a grid,
// scaled to norm eps) and one query's candidate (Linf: a square of +-eps per channel; L2: the
// mass of two windows moved into the first, scaled to the budget). Every candidate lies in the
// budget and [0, 1]. Tensors are [n, c, h, w] float32; draws are host arrays, one entry per row.
import { tensor } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { windows } from '../tensor/window.js';
import { perRow } from './threat.js';
import { etaL2 } from './squareSchedule.js';

/** A window's top-left corner per row. */
export interface Corners {
  vh: ArrayLike<number>;
  vw: ArrayLike<number>;
}

// Windows sit at a different place in every row, so the masks and patches are written on the
// host, one [n, ., h, w] tensor each, rather than cut out by a dozen tensor operations.

/** Calls f(row, offset of the window's pixel (a, b) in an [h, w] plane, a, b) for each row's window of side s. */
function eachPixel(n: number, w: number, s: number, at: Corners, f: (r: number, p: number, a: number, b: number) => void): void {
  for (let r = 0; r < n; r++) {
    const [vh, vw] = [at.vh[r]!, at.vw[r]!];
    for (let a = 0; a < s; a++) for (let b = 0; b < s; b++) f(r, (vh + a) * w + vw + b, a, b);
  }
}

/** Each row's window of side s as a 0/1 mask [n, 1, h, w] (float32). */
export function windowMask(like: Tensor, at: Corners, s: number): Tensor {
  const [n, , h, w] = like.shape as [number, number, number, number];
  const m = new Float32Array(n * h * w);
  eachPixel(n, w, s, at, (r, p) => {
    m[r * h * w + p] = 1;
  });
  return tensor(m, { shape: [n, 1, h, w], device: like.device });
}

/** delta / (||delta||_2 + 1e-12) * eps per row: square.py's normalize, times eps. */
function toSphere(d: Tensor, eps: number): Tensor {
  return d.div(perRow(d.flatten(1).square().sum(1).sqrt(), d).add(1e-12)).mul(eps);
}

/** Linf start: x + eps * sign per (row, channel, column), clipped to [0, 1]. `signs`: [n * c * w], row-major. */
export function linfStart(x: Tensor, eps: number, signs: Float32Array): Tensor {
  const [n, c, , w] = x.shape as [number, number, number, number];
  return x.add(tensor(signs, { shape: [n, c, 1, w], device: x.device }).mul(eps)).clamp(0, 1);
}

/**
 * One Linf candidate: each row's window of side s set to x0 +- eps, one sign per channel
 * (`signs`: [n * c]), the rest of the row's kept example unchanged; clipped to the ball and [0, 1].
 */
export function linfCandidate(best: Tensor, x0: Tensor, eps: number, s: number, at: Corners, signs: Float32Array): Tensor {
  const [n, c, h, w] = best.shape as [number, number, number, number];
  const jump = new Float32Array(n * c * h * w);
  const step = Math.fround(2 * eps);
  eachPixel(n, w, s, at, (r, p) => {
    for (let ch = 0; ch < c; ch++) jump[(r * c + ch) * h * w + p] = step * signs[r * c + ch]!;
  });
  // square.py clips to the ball, then to [0, 1]: the same as one clip to their intersection
  return best
    .add(tensor(jump, { shape: [n, c, h, w], device: best.device }))
    .maximum(x0.sub(eps))
    .minimum(x0.add(eps))
    .clamp(0, 1);
}

/**
 * The windows of {@link linfCandidate}'s candidate, [n, c, s, s]: the rest of its image is `best`
 * unchanged (best already lies in the ball and [0, 1], where the clip leaves it), so Square's
 * local forward needs only these. The same arithmetic on the same elements, so the same values.
 */
export function linfPatch(
  best: Tensor,
  x0: Tensor,
  eps: number,
  s: number,
  at: { vh: Int32Array; vw: Int32Array },
  signs: Float32Array,
): Tensor {
  const [n, c] = best.shape as [number, number];
  const step = Math.fround(2 * eps);
  const jump = tensor(
    Float32Array.from(signs, (v) => step * v),
    { shape: [n, c, 1, 1], device: best.device },
  );
  const from = windows(x0, at.vh, at.vw, s, s);
  return windows(best, at.vh, at.vw, s, s).add(jump).maximum(from.sub(eps)).minimum(from.add(eps)).clamp(0, 1);
}

/** Each row's eta of side s (transposed where `transpose` says) times its sign per channel, placed at its window, zero elsewhere: [n, c, h, w]. */
function placedEta(like: Tensor, at: Corners, s: number, transpose: ArrayLike<number>, signs: Float32Array): Tensor {
  const [n, c, h, w] = like.shape as [number, number, number, number];
  const eta = Float32Array.from(etaL2(s));
  const out = new Float32Array(n * c * h * w);
  eachPixel(n, w, s, at, (r, p, a, b) => {
    const v = transpose[r] ? eta[b * s + a]! : eta[a * s + b]!;
    for (let ch = 0; ch < c; ch++) out[(r * c + ch) * h * w + p] = v * signs[r * c + ch]!;
  });
  return tensor(out, { shape: [n, c, h, w], device: like.device });
}

/**
 * L2 start: on each window of the grid (squareSchedule's l2StartWindows), eta of the grid's
 * side, transposed per (row, window) as `transpose` [n * windows] says, times a sign per
 * (row, window, channel) (`signs`: [n * windows * c]); the whole scaled to L2 norm eps, added
 * to x and clipped to [0, 1].
 */
export function l2Start(
  x: Tensor,
  eps: number,
  side: number,
  corners: [number, number][],
  transpose: Uint8Array,
  signs: Float32Array,
): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const eta = etaL2(side);
  const d = new Float32Array(n * c * h * w);
  corners.forEach(([vh, vw], k) => {
    for (let r = 0; r < n; r++) {
      const t = transpose[r * corners.length + k]!;
      for (let ch = 0; ch < c; ch++) {
        const sign = signs[(r * corners.length + k) * c + ch]!;
        const base = (r * c + ch) * h * w;
        for (let a = 0; a < side; a++) {
          for (let b = 0; b < side; b++)
            d[base + (vh + a) * w + vw + b]! += Math.fround(t ? eta[b * side + a]! : eta[a * side + b]!) * sign;
        }
      }
    }
  });
  return x.add(toSphere(tensor(d, { shape: [n, c, h, w], device: x.device }), eps)).clamp(0, 1);
}

/**
 * One L2 candidate (square.py's update): per row and channel, window 1's part of the
 * perturbation, scaled to unit norm, plus eta (transposed per `transpose` [n]) times a sign per
 * channel (`signs`: [n * c]), is rescaled to carry the mass windows 1 and 2 held together plus
 * an equal share per channel of the budget left (eps^2 - ||delta||^2)_+; window 2 is emptied,
 * window 1 takes the new part. The result is scaled to norm eps around x0 and clipped to [0, 1].
 */
export function l2Candidate(
  best: Tensor,
  x0: Tensor,
  eps: number,
  s: number,
  w1: Corners,
  w2: Corners,
  transpose: ArrayLike<number>,
  signs: Float32Array,
): Tensor {
  const c = best.shape[1]!;
  const d = best.sub(x0);
  const squares = d.square();
  const m1 = windowMask(d, w1, s);
  const both = m1.maximum(windowMask(d, w2, s));
  const norm1 = squares.mul(m1).sum([2, 3], true).sqrt();
  const normImage = perRow(squares.sum([1, 2, 3]).sqrt(), d);
  const normBoth = squares.mul(both).sum([2, 3], true).sqrt();
  // zero outside window 1, like eta
  let fresh = placedEta(d, w1, s, transpose, signs).add(d.mul(m1).div(norm1.add(1e-12)));
  const room = normImage
    .square()
    .neg()
    .add(eps * eps)
    .clamp(0, null)
    .div(c)
    .add(normBoth.square())
    .sqrt();
  fresh = fresh.div(fresh.square().sum([2, 3], true).sqrt().add(1e-12)).mul(room);
  // window 2 emptied, window 1 replaced (fresh is zero outside it)
  return x0.add(toSphere(d.mul(both.neg().add(1)).add(fresh), eps)).clamp(0, 1);
}
