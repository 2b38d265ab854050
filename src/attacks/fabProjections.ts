// FAB's step: the smallest perturbation d (in the Linf, L2 or L1 norm) that moves a point t onto
// the linearised decision boundary {z : <w, z> = b} while t + d stays in the box [0, 1], one
// problem per row; fra31/auto-attack's fab_projections.py, op for op so that the float32 results
// agree. Where the hyperplane cannot be reached inside the box, the reference's answer is the box
// corner (vertex) nearest to it, and so is ours. The reference restricts its bisection and its
// updates to the rows of each case with boolean indexing; here every row runs every case and
// `where` picks each row's own, which gives the same numbers (rows are independent) without
// reading the masks back.
import { zeros } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';
import { fabProjectionLinfNative } from '../tensor/fabProjection.js';

/** A column of per-row values, [N] -> [N, 1]. */
const col = (v: Tensor): Tensor => v.unsqueeze(1);

/** The reference's sign flip: every row's t on the non-negative side of <w, z> - b. */
function orient(t: Tensor, w: Tensor, b: Tensor): { w: Tensor; c: Tensor } {
  const c = w.mul(t).sum(1).sub(b);
  const sign = where(c.ge(0), 1, -1);
  return { w: w.mul(col(sign)), c: c.mul(sign) };
}

/**
 * Bisection over a row's sorted breakpoints: the largest index (from lo, below hi) where
 * `above(index)` holds, in ceil(log2(D)) halvings as the reference does them (indices kept as
 * float32, as it keeps them).
 */
function bisect(rows: number, lo: number, hi: number, steps: number, device: string, above: (k: Tensor) => Tensor): Tensor {
  let lb = zeros([rows], { device }).add(lo);
  let ub = zeros([rows], { device }).add(hi);
  for (let i = 0; i < steps; i++) {
    const mid = lb.add(ub).div(2).floor();
    const c = above(col(mid.long()));
    [lb, ub] = [where(c, mid, lb), where(c, ub, mid)];
  }
  return lb.long();
}

const halvings = (d: number): number => Math.ceil(Math.log2(d));

/**
 * The Linf projection: t [N, D] points, w [N, D] hyperplane normals, b [N] offsets, all
 * float32; returns d [N, D] with t + d in [0, 1] on (or nearest to) <w, z> = b, minimal in Linf.
 * Coordinates with w = 0 do not move. On the CPU the addon computes it row by row, with the
 * same arithmetic as projectionLinfOps.
 */
export function projectionLinf(t: Tensor, w: Tensor, b: Tensor): Tensor {
  const cpu = [t, w, b].every((v) => v.device === 'cpu' && v.dtype === 'float32');
  return cpu && t.ndim === 2 && t.shape[1]! > 0 ? fabProjectionLinfNative(t, w, b) : projectionLinfOps(t, w, b);
}

/** projectionLinf op by op, as fra31/auto-attack's projection_linf: any device. */
export function projectionLinfOps(t: Tensor, w0: Tensor, b0in: Tensor): Tensor {
  return scope(() => {
    const [n, dim] = [t.shape[0]!, t.shape[1]!];
    const c0 = w0.mul(t).sum(1).sub(b0in).ge(0);
    const sign = where(c0, 1, -1);
    const w = w0.mul(col(sign));
    const moving = w.ne(0).float();
    const a = w.lt(0).float();
    let d = a.sub(t).mul(moving);
    const p = a.sub(t.mul(a.mul(2).sub(1)));
    const indp = p.argsort(1);
    const b = b0in.mul(sign).sub(w.mul(t).sum(1));
    const b0 = w.mul(d).sum(1);
    const indp2 = indp.flip([1]);
    const ws = w.gather(1, indp2);
    const bs2 = ws.neg().mul(d.gather(1, indp2));
    const s = ws.abs().cumsum(1);
    const sb = bs2.cumsum(1).add(col(b0));
    const sLast = s.select(1, dim - 1);
    const sbLast = sb.select(1, dim - 1);
    const b2 = sbLast.sub(sLast.mul(p.gather(1, indp.narrow(1, 0, 1)).squeeze(1)));
    const cL = b.sub(b2).gt(0);
    const c2 = b.sub(b0).gt(0).logicalAnd(cL.logicalNot());
    const lb = bisect(n, 0, dim - 1, halvings(dim), t.device, (k) => {
      const indcurr = indp.gather(1, k.neg().add(dim - 1));
      const bk = sb
        .gather(1, k)
        .sub(s.gather(1, k).mul(p.gather(1, indcurr)))
        .squeeze(1);
      return b.sub(bk).gt(0);
    });
    const a2 = a.mul(2).sub(1);
    // the hyperplane lies beyond every breakpoint: all coordinates move by the same lambda
    const lambdaL = b.sub(sbLast).div(sLast.neg()).clamp(0, null);
    d = where(col(cL), a2.mul(col(lambdaL)), d);
    const lbc = col(lb);
    const lambda2 = col(b.sub(sb.gather(1, lbc).squeeze(1)).div(s.gather(1, lbc).squeeze(1).neg()).clamp(0, null));
    const inner = lambda2
      .minimum(d)
      .mul(a)
      .add(lambda2.neg().maximum(d).mul(a.neg().add(1)));
    d = where(col(c2), inner, d);
    return d.mul(moving);
  });
}

/**
 * The L2 projection: t [N, D], w [N, D], b [N] float32 -> d [N, D], minimal in L2 with t + d in
 * [0, 1] on (or nearest to) <w, z> = b. Coordinates with |w| < 1e-8 do not move.
 */
export function projectionL2(t: Tensor, wIn: Tensor, b: Tensor): Tensor {
  return scope(() => {
    const [n, dim] = [t.shape[0]!, t.shape[1]!];
    const { w, c } = orient(t, wIn, b);
    const tiny = w.abs().lt(1e-8);
    const moving = tiny.logicalNot().float();
    let r = t.div(w).maximum(t.sub(1).div(w)).clamp(-1e12, 1e12);
    r = r.maskedFill(tiny, 1e12);
    r = r.maskedFill(r.eq(-1e12), 1e12);
    const sorted = r.sort(1);
    const indr = sorted.indices;
    let rs = sorted.values;
    let rs2 = cat([rs.narrow(1, 1, dim - 1), zeros([n, 1], { device: t.device })], 1);
    rs = rs.maskedFill(rs.eq(1e12), 0);
    rs2 = rs2.maskedFill(rs2.eq(1e12), 0);
    const w3s = w.square().gather(1, indr);
    const w5 = w3s.sum(1, true);
    const ws = w5.sub(w3s.cumsum(1));
    let d = r.mul(w).neg().mul(moving);
    const first = w5.neg().mul(rs.narrow(1, 0, 1));
    const s = cat(
      [
        first,
        rs2
          .neg()
          .add(rs)
          .mul(ws)
          .cumsum(1)
          .sub(w5.mul(rs.narrow(1, 0, 1))),
      ],
      1,
    );
    const c4 = s.select(1, 0).add(c).lt(0);
    const c3 = d.mul(w).sum(1).add(c).gt(0);
    const c2 = c4.logicalOr(c3).logicalNot();
    const lb = bisect(n, 0, dim - 1, halvings(dim), t.device, (k) => s.gather(1, k).squeeze(1).add(c).gt(0));
    // the nearest point of the hyperplane is inside the box
    const alpha4 = c.div(w5.squeeze(1));
    d = where(col(c4), col(alpha4).neg().mul(w), d);
    const lbc = col(lb);
    const wsLb = ws.gather(1, lbc).squeeze(1);
    let alpha2 = s.gather(1, lbc).squeeze(1).add(c).div(wsLb).add(rs.gather(1, lbc).squeeze(1));
    alpha2 = alpha2.maskedFill(wsLb.eq(0), 0);
    const c5 = col(alpha2).gt(r).float();
    const inner = d.mul(c5).sub(col(alpha2).mul(w).mul(c5.neg().add(1)));
    d = where(col(c2), inner, d);
    return d.mul(moving);
  });
}

/**
 * The L1 projection: t [N, D], w [N, D], b [N] float32 -> d [N, D], minimal in L1 with t + d in
 * [0, 1] on (or nearest to) <w, z> = b: the coordinates with the largest |w| go to their box
 * bound, in turn, and one more takes up the rest. Coordinates with |w| <= 1e-8 do not move.
 */
export function projectionL1(t: Tensor, wIn: Tensor, b: Tensor): Tensor {
  return scope(() => {
    const [n, dim] = [t.shape[0]!, t.shape[1]!];
    const { w, c } = orient(t, wIn, b);
    const r = w.reciprocal().abs().clamp(null, 1e12);
    const indr = r.argsort(1);
    const indrRev = indr.argsort(1);
    const c6 = w.lt(0).float();
    let d = t.neg().add(c6).mul(w.ne(0).float());
    const ds = w
      .neg()
      .mul(t)
      .minimum(w.mul(t.neg().add(1)))
      .gather(1, indr);
    const s = cat([col(c), ds], 1).cumsum(1);
    const c2 = s.select(1, dim).lt(0);
    const lb = bisect(n, 0, dim + 1, halvings(dim), t.device, (k) => s.gather(1, k).squeeze(1).gt(0));
    // rows outside c2 may end at index D, one past indr's last column: their answer is not used
    const lbc = col(lb.clamp(null, dim - 1).long());
    const at = indr.gather(1, lbc);
    const alpha = s.gather(1, col(lb)).neg().div(w.gather(1, at));
    // coordinates ranked before lb go to their bound, the one at lb by alpha, the rest stay
    const before = indrRev.lt(col(lb)).float();
    const inner = d.mul(before).scatter(1, at, alpha);
    d = where(col(c2), inner, d);
    return d.mul(w.abs().gt(1e-8).float());
  });
}

/** The three projections by name, for FAB's per-norm table. */
export const FAB_PROJECTIONS = { linf: projectionLinf, l2: projectionL2, l1: projectionL1 } as const;
