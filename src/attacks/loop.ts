// The one projected-gradient iteration every attack runs, after robustness' attacker.py: score
// the rows' iterates and keep each row's best (replace_best), take the gradient of the
// objective, and step and project the rows that go on. Which rows are in the loop, and for how
// many iterations, is the schedulers' business: pgdLoop.ts (a fixed number of iterations) and
// earlyStop.ts (rows leave once settled, pending rows take their place).
import { grad } from '../tensor/autograd.js';
import { arange, full, zeros } from '../tensor/creation.js';
import { autocast, autocastDtype, type Precision } from '../tensor/device.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';
import { perRow } from './threat.js';

export interface Evaluated {
  /** Per-row objective to ascend [B] (summed for the gradient). */
  objective: Tensor;
  /** Per-row score of this iterate [B], higher is better; compared without gradients. */
  score: Tensor;
  /** Per row: this iterate settles the row's outcome (bool [B]; read by early stopping). */
  settled?: Tensor;
  /**
   * The per-row value the step rule reads as its `objective` (default the objective itself):
   * APGD's expectation over transformations ascends the mean of several forwards' losses but
   * reads the last one's, as the reference does.
   */
  value?: Tensor;
}

/** Per-row tensors, the rows along dimension 0: they follow their rows in and out of the loop. */
export type Rows = Record<string, Tensor>;

export interface StepInput {
  /** The stepping rows' iterates, gradients, budget centres and objective values [n]. */
  x: Tensor;
  g: Tensor;
  x0: Tensor;
  objective: Tensor;
  /** Each row's iteration (one number when all rows are at the same one). */
  t: number | Tensor;
  state: Rows;
}

/**
 * How rows step. PGD and k-NS take a fixed step (stepRules.ts); a rule with memory (APGD's
 * momentum, its per-row step size halved at checkpoints) keeps it in `state`, which the
 * schedulers carry along with the rows.
 */
export interface StepRule {
  /** The state of rows entering the loop at `start`. */
  init(start: Tensor): Rows;
  /** The next iterates of the stepping rows, inside the budget, and their state. */
  next(c: StepInput): { x: Tensor; state: Rows };
}

export interface LoopOptions {
  /** `rows`: which rows of the problem x holds (int64 indices), or null for all of them in order. */
  evaluate: (x: Tensor, rows: Tensor | null) => Evaluated;
  rule: StepRule;
  /** fp32 (default), or autocast to bf16 / fp16 for the model's forward and backward. */
  precision?: Precision;
  /** Rows evaluated together (default all); rows are independent, so answers do not depend on it. */
  rowBatch?: number;
}

/** Each row's kept iterate, its score (float32) and the iteration that reached it (int32). */
export interface Kept {
  best: Tensor;
  score: Tensor;
  it: Tensor;
}

/** The rows in the loop: their iterates, budget centres, kept iterates, problem rows and state. */
export interface Active extends Kept {
  x: Tensor;
  x0: Tensor;
  rows: Tensor | null;
  state: Rows;
}

/** Rows entering the loop at `start`; nothing kept yet (score -inf), so the start is scored first. */
export function enter(x0: Tensor, start: Tensor, rows: Tensor | null, rule: StepRule): Active {
  const n = start.shape[0]!;
  const on = { device: start.device };
  return {
    x: start.detach(),
    x0: x0.detach(),
    best: start.detach(),
    score: full([n], -Infinity, on),
    it: zeros([n], { dtype: 'int32', ...on }),
    rows,
    state: rule.init(start),
  };
}

/**
 * replace_best: the rows of `cand` that score strictly higher replace the kept ones, so the
 * earlier iterate (or restart) keeps a tie. `better`: which rows were replaced.
 */
export function keepBetter(kept: Kept, cand: { best: Tensor; score: Tensor; it: number | Tensor }): Kept & { better: Tensor } {
  const better = cand.score.gt(kept.score);
  return {
    best: where(perRow(better, kept.best), cand.best, kept.best),
    score: where(better, cand.score, kept.score),
    it: where(better, cand.it, kept.it).to('int32'),
    better,
  };
}

export interface Iteration {
  /** Every active row's kept iterate, this iterate considered. */
  kept: Kept;
  settled: Tensor | null;
  /** The rows that go on, one step further; null when no step was taken or no row goes on. */
  next: Active | null;
}

/**
 * One iteration over the active rows, at iteration `t`: evaluate (in chunks of `rowBatch`
 * rows), keep the better iterates; then, when `ascend`, the gradient and the step of the rows
 * that go on: all, or those `going` picks (int64 indices into the active rows) once it has
 * seen the gradient and the settled flags. Tensors land in the caller's scope.
 */
export function iterate(
  a: Active,
  t: number | Tensor,
  o: LoopOptions,
  ascend: boolean,
  going?: (g: Tensor, settled: Tensor | null) => Tensor | null,
): Iteration {
  const n = a.x.shape[0]!;
  const half = autocastDtype(o.precision ?? 'fp32');
  const chunk = Math.min(n, o.rowBatch ?? n);
  const scores: Tensor[] = [];
  const settled: Tensor[] = [];
  const objectives: Tensor[] = [];
  const grads: Tensor[] = [];
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const whole = m === n;
    const xc = (whole ? a.x : a.x.narrow(0, s, m)).detach().requiresGrad_(ascend);
    const rows = whole ? a.rows : a.rows ? a.rows.narrow(0, s, m) : arange(s, s + m, 1, { dtype: 'int64', device: a.x.device });
    // Mixed precision covers the model's forward (and so its backward); the iterate, the step
    // and the projection stay float32.
    const e = autocast(xc.device, half, () => o.evaluate(xc, rows));
    scores.push(e.score.detach());
    if (e.settled) settled.push(e.settled.detach());
    if (!ascend) continue;
    objectives.push((e.value ?? e.objective).detach().float());
    // the chunk's graph goes with its gradient
    grads.push(grad(e.objective.float().sum(), xc)[0]!);
  }
  const join = (ts: Tensor[]) => (ts.length === 1 ? ts[0]! : cat(ts, 0));
  // the chunks are narrow views of x: the iterate is x itself, not a concatenation of them
  const xi = a.x.detach();
  const k = keepBetter(a, { best: xi, score: join(scores).float(), it: t });
  const kept = { best: k.best, score: k.score, it: k.it };
  const flags = settled.length ? join(settled) : null;
  if (!ascend) return { kept, settled: flags, next: null };
  const g = join(grads);
  const idx = going?.(g, flags) ?? null;
  if (idx && !idx.shape[0]) return { kept, settled: flags, next: null };
  const pick = (v: Tensor) => (idx ? v.indexSelect(0, idx) : v);
  const state = idx ? Object.fromEntries(Object.entries(a.state).map(([k, v]) => [k, pick(v)])) : a.state;
  const x0 = pick(a.x0);
  // A zero gradient leaves the row where it is (L2 divides by ||g|| + 1e-10, never 0).
  const stepped = o.rule.next({
    x: pick(xi),
    g: pick(g),
    x0,
    objective: pick(join(objectives)),
    t: typeof t === 'number' ? t : pick(t),
    state,
  });
  const rows = idx ? (a.rows ? a.rows.indexSelect(0, idx) : idx) : a.rows;
  return {
    kept,
    settled: flags,
    next: { x: stepped.x, x0, best: pick(kept.best), score: pick(kept.score), it: pick(kept.it), rows, state: stepped.state },
  };
}

/** The tensors of a set of active rows (to keep or dispose them together). */
export function tensorsOf(a: Active | null): Tensor[] {
  if (!a) return [];
  return [a.x, a.x0, a.best, a.score, a.it, ...(a.rows ? [a.rows] : []), ...Object.values(a.state)];
}

/** Takes `next` out of the enclosing scope and disposes what of `prev` it does not reuse. */
export function replaceActive(prev: Active | null, next: Active | null): Active | null {
  const keep = new Set(tensorsOf(next));
  for (const v of keep) v.keep();
  for (const v of tensorsOf(prev)) if (!keep.has(v)) v.dispose();
  return next;
}

/** Rows appended to the active ones (refilling the batch); both name their problem rows. */
export function appendRows(a: Active, b: Active): Active {
  const both = (u: Tensor, v: Tensor) => cat([u, v], 0);
  if (!a.rows || !b.rows) throw new Error('appendRows: the rows must name their problem rows');
  return {
    x: both(a.x, b.x),
    x0: both(a.x0, b.x0),
    best: both(a.best, b.best),
    score: both(a.score, b.score),
    it: both(a.it, b.it),
    rows: both(a.rows, b.rows),
    state: Object.fromEntries(Object.keys(a.state).map((k) => [k, both(a.state[k]!, b.state[k]!)])),
  };
}
