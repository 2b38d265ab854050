// One run of Square (square.py's attack_single_run) over a batch of rows: a start, then up to
// `queries` queries, each trying one candidate per row still unfooled and keeping it when its
// margin is lower or <= 0. Rows leave as soon as their margin is <= 0, as in square.py, so the
// cost is the queries of the rows still going. Forward passes only; the caller provides the
// no-grad context (and folded batch norm).
import type { LocalForward } from '../nn/localForward.js';
import { autocast, autocastDtype, type Precision } from '../tensor/device.js';
import { tensor } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';
import { putWindows_ } from '../tensor/window.js';
import { perRow } from './threat.js';
import { drawInt, drawSign, drawTranspose, drawsPerQuery, type UniformStream } from './squareDraws.js';
import { l2StartWindows, pSelection, squareSide } from './squareSchedule.js';
import { l2Candidate, l2Start, linfCandidate, linfPatch, linfStart } from './squareSteps.js';

export interface SquareRunOptions {
  /** The model's logits [n, classes] for images [n, c, h, w]. */
  logits: (x: Tensor) => Tensor;
  /** The rows' clean images [B, c, h, w] and labels [B] (int64). */
  x0: Tensor;
  labels: Tensor;
  norm: 'l2' | 'linf';
  eps: number;
  queries: number;
  pInit: number;
  rescaleSchedule: boolean;
  /** One stream of draws per row of x0. */
  streams: UniformStream[];
  /** Rows per forward pass (default all); rows are independent, so the answers do not depend on it. */
  rowBatch?: number;
  precision?: Precision;
  /**
   * Linf: the model's forward as a local forward (its caches are the run's; the caller
   * disposes it). From the first query whose square pays for its windows (LocalForward.pays),
   * each query reruns only what its square reaches.
   */
  local?: LocalForward | null;
  /** Tests: sees every candidate (the start included) [n, ...], its rows' clean images and the rows of x0 they are. */
  observe?: (candidate: Tensor, x0: Tensor, rows: readonly number[]) => void;
}

export interface SquareRunResult {
  /** Per row: the kept example [B, c, h, w], its margin, and the query that reached it (0: the start). */
  best: Tensor;
  margin: Float32Array;
  iteration: Int32Array;
  /** Per row: forward passes taken (square.py's n_queries: 1 for the start, 1 per query while unfooled). */
  queries: Int32Array;
}

/** square.py's margin: the label's logit minus the highest other one, per row [n]. */
export function margins(logits: Tensor, labels: Tensor): Tensor {
  const z = logits.float();
  const y = labels.view([-1, 1]);
  return z
    .gather(1, y)
    .view([-1])
    .sub(z.scatter(1, y, -Infinity).amax(1));
}

/** The active rows' state; all tensors are kept (owned by the run) until replaced. */
interface Active {
  rows: number[];
  x0: Tensor;
  labels: Tensor;
  best: Tensor;
  margin: Tensor;
  it: Tensor;
}

const tensorsOf = (a: Active) => [a.x0, a.labels, a.best, a.margin, a.it];

export function squareRun(o: SquareRunOptions): SquareRunResult {
  const [b, c, h, w] = o.x0.shape as [number, number, number, number];
  const on = { device: o.x0.device };
  const evaluate = (x: Tensor, labels: Tensor): Tensor => {
    const chunk = Math.max(1, Math.min(x.shape[0]!, o.rowBatch ?? x.shape[0]!));
    const half = autocastDtype(o.precision ?? 'fp32');
    const parts: Tensor[] = [];
    for (let s = 0; s < x.shape[0]!; s += chunk) {
      const m = Math.min(chunk, x.shape[0]! - s);
      parts.push(
        margins(
          autocast(x.device, half, () => o.logits(x.narrow(0, s, m))),
          labels.narrow(0, s, m),
        ),
      );
    }
    return parts.length === 1 ? parts[0]! : cat(parts, 0);
  };
  const margin = new Float32Array(b);
  const iteration = new Int32Array(b);
  const queries = new Int32Array(b).fill(1);
  // in the caller's scope: the run's own scopes below leave it alone
  const best = o.x0.clone();
  let a: Active | null = null;
  try {
    a = scope(() => {
      const x = start(o, c, h, w);
      o.observe?.(x, o.x0, [...Array(b).keys()]);
      const m = evaluate(x, o.labels);
      return {
        rows: [...Array(b).keys()],
        x0: o.x0.clone(),
        labels: o.labels.clone(),
        best: x,
        margin: m,
        it: tensor(new Int32Array(b), on),
      };
    });
    for (const t of tensorsOf(a)) t.keep();
    a = retire(a, best, margin, iteration);
    let local: LocalForward | null = null;
    for (let q = 0; q < o.queries && a; q++) {
      const s = squareSide(pSelection(q, o.pInit, o.queries, o.rescaleSchedule), [c, h, w], o.norm);
      const cur: Active = a;
      if (!local && o.local && o.norm === 'linf' && o.local.pays(s)) {
        local = o.local;
        scope(() => local!.start(cur.best));
      }
      const next = scope(() => {
        // square.py with the margin loss: a lower margin, or any fooling one, replaces the kept point
        const better = (m: Tensor) => m.lt(cur.margin).logicalOr(m.le(0));
        const step = (m: Tensor, b: Tensor, best: Tensor) => ({
          ...cur,
          best,
          margin: where(b, m, cur.margin),
          it: where(b, q + 1, cur.it).to('int32'),
        });
        if (local) {
          // only the windows change: the kept rows take theirs into the kept examples in place
          const { at, signs } = linfDraws(o, cur, s, h, w, c);
          const patch = linfPatch(cur.best, cur.x0, o.eps, s, at, signs);
          if (o.observe) o.observe(putWindows_(cur.best.clone(), at.vh, at.vw, patch), cur.x0, cur.rows);
          const m = margins(local.change(at.vh, at.vw, patch), cur.labels);
          const b = better(m);
          local.settle(b);
          return step(m, b, putWindows_(cur.best, at.vh, at.vw, patch, b));
        }
        const x = candidate(o, cur, s, h, w, c);
        o.observe?.(x, cur.x0, cur.rows);
        const m = evaluate(x, cur.labels);
        const b = better(m);
        return step(m, b, where(perRow(b, x), x, cur.best));
      });
      for (const r of cur.rows) queries[r]! += 1;
      if (next.best !== cur.best) {
        next.best.keep();
        cur.best.dispose();
      }
      for (const t of [next.margin, next.it]) t.keep();
      cur.margin.dispose();
      cur.it.dispose();
      a = retire(next, best, margin, iteration, false, local);
    }
    if (a) a = retire(a, best, margin, iteration, true);
  } finally {
    if (a) for (const t of tensorsOf(a)) t.dispose();
  }
  return { best, margin, iteration, queries };
}

/**
 * Writes the rows whose margin is <= 0 (all rows when `all`) into the outputs and returns the
 * others (null when none is left); the state passed in is consumed.
 */
function retire(
  a: Active,
  best: Tensor,
  margin: Float32Array,
  iteration: Int32Array,
  all = false,
  local: LocalForward | null = null,
): Active | null {
  const m = a.margin.toArray<'float32'>();
  const leave: number[] = [];
  const stay: number[] = [];
  m.forEach((v, k) => (all || !(v > 0) ? leave : stay).push(k));
  if (!leave.length) return a;
  const it = a.it.toArray<'int32'>();
  const on = { device: best.device };
  const idx = (ks: number[]) =>
    tensor(
      BigInt64Array.from(ks, (k) => BigInt(k)),
      { shape: [ks.length], ...on },
    );
  scope(() => {
    best.indexCopy_(0, idx(leave.map((k) => a.rows[k]!)), a.best.indexSelect(0, idx(leave)));
  });
  for (const k of leave) {
    margin[a.rows[k]!] = m[k]!;
    iteration[a.rows[k]!] = it[k]!;
  }
  let next: Active | null = null;
  if (stay.length) {
    next = scope(() => {
      const i = idx(stay);
      return {
        rows: stay.map((k) => a.rows[k]!),
        x0: a.x0.indexSelect(0, i),
        labels: a.labels.indexSelect(0, i),
        best: a.best.indexSelect(0, i),
        margin: a.margin.indexSelect(0, i),
        it: a.it.indexSelect(0, i),
      };
    });
    scope(() => local?.keepRows(idx(stay)));
    for (const t of tensorsOf(next)) t.keep();
  }
  for (const t of tensorsOf(a)) t.dispose();
  return next;
}

/** The start of every row from its stream (the Linf stripes or the L2 grid). */
function start(o: SquareRunOptions, c: number, h: number, w: number): Tensor {
  const n = o.streams.length;
  if (o.norm === 'linf') {
    const signs = new Float32Array(n * c * w);
    o.streams.forEach((st, r) => signs.set(st.take(c * w).map(drawSign), r * c * w));
    return linfStart(o.x0, o.eps, signs);
  }
  const { side, corners } = l2StartWindows(h, w);
  const transpose = new Uint8Array(n * corners.length);
  const signs = new Float32Array(n * corners.length * c);
  o.streams.forEach((st, r) => {
    for (let k = 0; k < corners.length; k++) {
      const u = st.take(1 + c);
      transpose[r * corners.length + k] = drawTranspose(u[0]!) ? 1 : 0;
      for (let ch = 0; ch < c; ch++) signs[(r * corners.length + k) * c + ch] = drawSign(u[1 + ch]!);
    }
  });
  return l2Start(o.x0, o.eps, side, corners, transpose, signs);
}

/** Each row's window corner. */
interface RowCorners {
  vh: Int32Array;
  vw: Int32Array;
}

/** One query's draws for the active rows, each from its own stream: a reader of window corners and of signs per channel. */
function queryDraws(o: SquareRunOptions, a: Active, c: number) {
  const n = a.rows.length;
  const k = drawsPerQuery(o.norm, c);
  const u = new Float32Array(n * k);
  a.rows.forEach((r, i) => u.set(o.streams[r]!.take(k), i * k));
  return {
    u,
    k,
    at: (j: number, high: number) => Int32Array.from({ length: n }, (_, i) => drawInt(high, u[i * k + j]!)),
    signsFrom: (j: number) => Float32Array.from({ length: n * c }, (_, i) => drawSign(u[Math.floor(i / c) * k + j + (i % c)]!)),
  };
}

/** One Linf query's draws: each row's window and its signs per channel. */
function linfDraws(o: SquareRunOptions, a: Active, s: number, h: number, w: number, c: number): { at: RowCorners; signs: Float32Array } {
  const d = queryDraws(o, a, c);
  return { at: { vh: d.at(0, h - s), vw: d.at(1, w - s) }, signs: d.signsFrom(2) };
}

/** One query's candidates for the active rows, each from its own stream. */
function candidate(o: SquareRunOptions, a: Active, s: number, h: number, w: number, c: number): Tensor {
  if (o.norm === 'linf') {
    const { at, signs } = linfDraws(o, a, s, h, w, c);
    return linfCandidate(a.best, a.x0, o.eps, s, at, signs);
  }
  const { u, k, at, signsFrom } = queryDraws(o, a, c);
  const n = a.rows.length;
  const transpose = Uint8Array.from({ length: n }, (_, i) => (drawTranspose(u[i * k + 4]!) ? 1 : 0));
  return l2Candidate(
    a.best,
    a.x0,
    o.eps,
    s,
    { vh: at(0, h - s), vw: at(1, w - s) },
    { vh: at(2, h - s), vw: at(3, w - s) },
    transpose,
    signsFrom(5),
  );
}
