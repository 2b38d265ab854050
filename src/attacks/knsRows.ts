// Stepping the n-neuron attack's rows (inputs x neurons): the inversion loss of each row, and
// the rows stepped in chunks, rows that cannot move set aside first so that the chunks hold
// moving rows only. Rows are independent (a row's arithmetic does not depend on its batch,
// test/blas.test.ts), so the chunking changes no answer.
import type { ImageClassifier } from '../models/classifier.js';
import * as F from '../nn/functional.js';
import { grad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { autocast, autocastDtype } from '../tensor/device.js';
import { pgdLoop, type Evaluated, type PgdLoopResult } from './pgdCore.js';
import type { BudgetConfig } from './types.js';

/** Per-row tensors (first dimension: rows): clean inputs, and what each row's loss compares with. */
export interface KnsRows {
  x0: Tensor;
  /** Target features z(x) + Delta e_i [R, F], their norms [R], |t_i| [R], the one-hot e_i [R, F]. */
  target: Tensor;
  tNorm: Tensor;
  tiAbs: Tensor;
  mask: Tensor;
  /** Clean prediction, the class the kept iterate's cross-entropy is taken against [R]. */
  goal: Tensor;
}

export interface KnsStepConfig extends BudgetConfig {
  lambda: number;
  stepSize: number;
  fakeRelu: boolean;
  earlyStop?: boolean;
  rowBatch?: number;
}

/**
 * Rows stepped together when the caller does not say. On the CPU a step costs more per row
 * past a few hundred rows of the small CNN: 256 inputs x 16 neurons took 32-40 s in chunks of
 * 256 rows against 42 s as chunks of 2,048 (2 cores); a GPU takes them all at once (its steps
 * are host-bound).
 */
export function defaultKnsRowBatch(rows: number, device: string): number {
  return device === 'cpu' ? Math.min(rows, 256) : rows;
}

const select = (r: KnsRows, f: (t: Tensor) => Tensor): KnsRows =>
  ({ x0: f(r.x0), target: f(r.target), tNorm: f(r.tNorm), tiAbs: f(r.tiAbs), mask: f(r.mask), goal: f(r.goal) });

/** The inversion loss to descend, and the cross-entropy the kept iterate is chosen by. */
function evaluator(model: ImageClassifier, c: KnsStepConfig, r: KnsRows) {
  return (xi: Tensor, sel: Tensor | null): Evaluated => {
    const pick = (t: Tensor) => (sel ? t.indexSelect(0, sel) : t);
    const out = model.forward(xi, { fakeRelu: c.fakeRelu });
    const diff = out.features.sub(pick(r.target));
    const loss = diff.norm(2, 1).div(pick(r.tNorm)).add(diff.mul(pick(r.mask)).abs().sum(1).div(pick(r.tiAbs)).mul(c.lambda));
    return { objective: loss.neg(), score: F.crossEntropy(out.logits.detach(), pick(r.goal), { reduction: 'none' }) };
  };
}

function loop(model: ImageClassifier, c: KnsStepConfig, r: KnsRows, dropFrozen: boolean): PgdLoopResult {
  return pgdLoop({ x0: r.x0, start: r.x0, norm: c.norm, eps: c.eps, stepSize: c.stepSize, iterations: c.iterations, precision: c.precision,
    dropFrozen, evaluate: evaluator(model, c, r) });
}

const spans = (rows: number, chunk: number): [number, number][] =>
  Array.from({ length: Math.ceil(rows / chunk) }, (_, k) => [k * chunk, Math.min(chunk, rows - k * chunk)]);

/** PGD without random start on every row; kept iterates (and their scores) are kept tensors the caller owns. */
export function stepRows(model: ImageClassifier, c: KnsStepConfig, all: KnsRows): PgdLoopResult {
  const rows = all.x0.shape[0]!;
  const chunk = c.rowBatch ?? defaultKnsRowBatch(rows, all.x0.device);
  // A row whose loss has no gradient at the clean input (an inactive target behind a true ReLU:
  // only its own coordinate of z differs from the target) never moves: its kept iterate is the
  // clean input. pgdLoop stops stepping such rows after the first gradient.
  const dropFrozen = c.earlyStop !== false;
  if (rows <= chunk) return loop(model, c, all, dropFrozen);
  return scope(() => {
    // More rows than a chunk, behind a true ReLU (where inactive targets are common: 75% of the
    // rows on the default model): find the rows that cannot move first, with the same first
    // gradient the loop takes (one extra gradient per row), so that the chunks hold moving rows
    // only. Through the fake ReLU a row hardly ever lacks a gradient; each chunk's loop still
    // sets such a row aside after its first gradient.
    let moving: Tensor | null = null;
    let startScore: Tensor | null = null;
    if (dropFrozen && !c.fakeRelu) {
      const half = autocastDtype(c.precision ?? 'fp32');
      const found = spans(rows, chunk).map(([s, m]) => {
        const part = select(all, (t) => t.narrow(0, s, m));
        const xi = part.x0.detach().requiresGrad_(true);
        const e = autocast(xi.device, half, () => evaluator(model, c, part)(xi, null));
        const [g] = grad(e.objective.float().sum(), xi);
        return { moves: g!.flatten(1).abs().amax(1).gt(0), score: e.score.detach().float() };
      });
      moving = cat(found.map((f) => f.moves), 0).nonzero().flatten();
      startScore = cat(found.map((f) => f.score), 0);
    }
    const sub = moving ? select(all, (t) => t.indexSelect(0, moving!)) : all;
    const n = sub.x0.shape[0]!;
    const parts = spans(n, chunk).map(([s, m]) => loop(model, c, select(sub, (t) => (m === n ? t : t.narrow(0, s, m))), dropFrozen && !moving));
    const best = parts.length ? cat(parts.map((p) => p.best), 0) : null;
    const score = parts.length ? cat(parts.map((p) => p.bestScore), 0) : null;
    const its = parts.flatMap((p) => Array.from(p.bestIteration));
    for (const p of parts) {
      p.best.dispose();
      p.bestScore.dispose();
    }
    if (!moving) return { best: best!.keep(), bestScore: score!.keep(), bestIteration: Int32Array.from(its), frozenRows: parts.reduce((a, p) => a + p.frozenRows, 0) };
    // frozen rows keep the clean input, reached at iteration 0
    const fullBest = all.x0.clone();
    const fullScore = startScore!.clone();
    const bestIteration = new Int32Array(rows);
    if (best) {
      fullBest.indexCopy_(0, moving, best);
      fullScore.indexCopy_(0, moving, score!);
      moving.toNumbers().forEach((r, k) => { bestIteration[r] = its[k]!; });
    }
    return { best: fullBest.keep(), bestScore: fullScore.keep(), bestIteration, frozenRows: rows - n };
  });
}
