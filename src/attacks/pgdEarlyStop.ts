// PGD with an active set: a row leaves the batch as soon as its outcome is settled (success
// is "some iterate fools the model", so a fooled row cannot become unfooled), and pending
// rows take its place, so the batch stays full. A restart of an input runs only when every
// earlier restart of it failed, from the same (seed, input, restart) start as the full
// protocol. Success is the full protocol's; an unfooled input gets the same example (its
// highest-loss iterate over all restarts); a fooled input gets its first fooling iterate.
import type { ImageClassifier } from '../models/classifier.js';
import * as F from '../nn/functional.js';
import { grad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/creation.js';
import { derivedGenerator } from '../tensor/random.js';
import { autocast, autocastDtype } from '../tensor/device.js';
import { project, randomStart, stepAlong } from './budget.js';
import type { AttackBatch, PgdConfig } from './pgd.js';

export interface EarlyStopResult {
  /** One example per input: [B, ...]. */
  adversarial: Tensor;
  restartOf: Int32Array;
  iterationOf: Int32Array;
}

interface Job {
  input: number;
  restart: number;
}

/** Runs inside the caller's eval mode and scope; `goal` holds the class each input is pushed from (or to, targeted). */
export function pgdEarlyStop(model: ImageClassifier, batch: AttackBatch, goal: Tensor, c: PgdConfig, stepSize: number): EarlyStopResult {
  const x0All = batch.images;
  const b = x0All.shape[0]!;
  const tail = Array(x0All.ndim - 1).fill(1);
  // an input has at most one restart running, so the pool never holds more than b rows
  const capacity = b;
  const half = autocastDtype(c.precision ?? 'fp32');
  const on = { device: x0All.device };
  // per input: its best example so far, that example's score, restart and iteration
  // per input: its kept example as a [1, ...] row (every input gets one from its first restart)
  const outRows: (Tensor | null)[] = Array(b).fill(null);
  const outScore = new Float64Array(b).fill(-Infinity);
  const restartOf = new Int32Array(b);
  const iterationOf = new Int32Array(b);
  const pending: Job[] = Array.from({ length: b }, (_, i) => ({ input: i, restart: 0 }));
  // active rows: their jobs, iterations, best scores (host), and tensors (device)
  let jobs: Job[] = [];
  let t: number[] = [];
  let rowBest: number[] = [];
  let rowBestIt: number[] = [];
  let x: Tensor | null = null;
  let best: Tensor | null = null;
  let x0: Tensor | null = null;
  let g0: Tensor | null = null;
  const replace = (next: { x: Tensor; best: Tensor; x0: Tensor; goal: Tensor } | null) => {
    const incoming = next ? [next.x, next.best, next.x0, next.goal] : [];
    for (const old of [x, best, x0, g0]) if (old && !incoming.includes(old)) old.dispose();
    for (const t of incoming) t.keep();
    [x, best, x0, g0] = next ? incoming : [null, null, null, null];
  };
  try {
    while (jobs.length || pending.length) {
      // refill: new rows start at their own (seed, input, restart) point
      const fresh = pending.splice(0, Math.max(0, capacity - jobs.length));
      if (fresh.length) {
        scope(() => {
          const idx = tensor(BigInt64Array.from(fresh, (j) => BigInt(j.input)), { shape: [fresh.length], ...on });
          const clean = x0All.indexSelect(0, idx);
          const start = c.randomStart
            ? randomStart(clean, c.norm, c.eps, fresh.map((j) => derivedGenerator(c.seed, batch.indices[j.input]!, j.restart, 17)))
            : clean;
          const gl = goal.indexSelect(0, idx);
          replace(x ? { x: cat([x, start], 0), best: cat([best!, start], 0), x0: cat([x0!, clean], 0), goal: cat([g0!, gl], 0) }
            : { x: start, best: start, x0: clean, goal: gl });
        });
        jobs = [...jobs, ...fresh];
        t = [...t, ...fresh.map(() => 0)];
        rowBest = [...rowBest, ...fresh.map(() => -Infinity)];
        rowBestIt = [...rowBestIt, ...fresh.map(() => 0)];
      }
      const n = jobs.length;
      scope(() => {
        const xi = x!.detach().requiresGrad_(true);
        const e = autocast(xi.device, half, () => {
          const logits = model.forward(xi).logits;
          const ce = F.crossEntropy(logits, g0!, { reduction: 'none' });
          const pred = logits.detach().argmax(1);
          return { ce, success: c.targeted ? pred.eq(g0!) : pred.ne(g0!) };
        });
        const objective = c.targeted ? e.ce.float().neg() : e.ce.float();
        // the full protocol's score: fooling iterates first, then the higher loss
        const score = e.success.float().mul(1e4).add(objective.detach());
        const scores = score.toNumbers();
        const fooled = e.success.toArray<'bool'>();
        const better = scores.map((s, r) => s > rowBest[r]!);
        const betterT = tensor(Uint8Array.from(better, Number), { shape: [n], dtype: 'bool', ...on });
        const nb = where(betterT.view([n, ...tail]), xi.detach(), best!);
        for (let r = 0; r < n; r++) {
          if (better[r]) {
            rowBest[r] = scores[r]!;
            rowBestIt[r] = t[r]!;
          }
        }
        const done = jobs.map((_, r) => !!fooled[r] || t[r] === c.iterations);
        const [gr] = grad(objective.sum(), xi);
        const next = project(stepAlong(xi.detach(), gr!, c.norm, stepSize), x0!, c.norm, c.eps);
        // harvest finished rows into their inputs; queue the next restart of unfooled ones
        const finished: number[] = [];
        for (let r = 0; r < n; r++) if (done[r]) finished.push(r);
        if (finished.length) {
          const fIdx = tensor(BigInt64Array.from(finished, BigInt), { shape: [finished.length], ...on });
          const rows = nb.indexSelect(0, fIdx);
          finished.forEach((r, k) => {
            const { input, restart } = jobs[r]!;
            // strictly better: an earlier restart keeps a tie, as in the full protocol
            if (rowBest[r]! > outScore[input]!) {
              outScore[input] = rowBest[r]!;
              restartOf[input] = restart;
              iterationOf[input] = rowBestIt[r]!;
              outRows[input]?.dispose();
              outRows[input] = rows.slice(0, k, k + 1).contiguous().keep();
            }
            if (!fooled[r] && restart + 1 < c.restarts) pending.unshift({ input, restart: restart + 1 });
          });
        }
        const keep: number[] = [];
        for (let r = 0; r < n; r++) if (!done[r]) keep.push(r);
        if (!keep.length) {
          replace(null);
        } else if (keep.length === n) {
          replace({ x: next, best: nb, x0: x0!, goal: g0! });
        } else {
          const k = tensor(BigInt64Array.from(keep, BigInt), { shape: [keep.length], ...on });
          replace({ x: next.indexSelect(0, k), best: nb.indexSelect(0, k), x0: x0!.indexSelect(0, k), goal: g0!.indexSelect(0, k) });
        }
        jobs = keep.map((r) => jobs[r]!);
        t = keep.map((r) => t[r]! + 1);
        rowBest = keep.map((r) => rowBest[r]!);
        rowBestIt = keep.map((r) => rowBestIt[r]!);
      });
    }
  } catch (e) {
    for (const r of outRows) r?.dispose();
    throw e;
  } finally {
    replace(null);
  }
  const adversarial = cat(outRows as Tensor[], 0);
  for (const r of outRows) r!.dispose();
  return { adversarial, restartOf, iterationOf };
}
