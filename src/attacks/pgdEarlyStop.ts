// PGD with an active set: a row leaves the batch as soon as its outcome is settled (success
// is "some iterate fools the model", so a fooled row cannot become unfooled), and pending
// rows take its place, so the batch stays full. An input's later restarts are queued only
// once its first restart has run to the end unfooled, from the same (seed, input, restart)
// starts as the full protocol; they then run side by side, as many as the batch has room for.
// Success is the full protocol's; an unfooled input gets the same example (its highest-loss
// iterate over all restarts, the earlier restart on a tie); a fooled input gets the first
// fooling iterate of its lowest fooling restart, whatever order the restarts finish in, so
// the answers do not depend on the batch.
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
  /** Inputs some iterate fooled, as judged inside the loop. */
  fooled: boolean[];
}

interface Job {
  input: number;
  restart: number;
}

/**
 * Runs inside the caller's eval mode and scope; `goal` holds the class each input is pushed
 * from (or to, targeted); `capacity`: rows stepped together (at least one per input).
 */
export function pgdEarlyStop(model: ImageClassifier, batch: AttackBatch, goal: Tensor, c: PgdConfig, stepSize: number,
  capacity: number): EarlyStopResult {
  const x0All = batch.images;
  const b = x0All.shape[0]!;
  const tail = Array(x0All.ndim - 1).fill(1);
  const rowCap = Math.max(b, capacity);
  const half = autocastDtype(c.precision ?? 'fp32');
  const on = { device: x0All.device };
  // per input: its kept example as a [1, ...] row (every input gets one from its first
  // restart), that example's score, restart and iteration, and its lowest fooling restart
  const outRows: (Tensor | null)[] = Array(b).fill(null);
  const outScore = new Float64Array(b).fill(-Infinity);
  const restartOf = new Int32Array(b);
  const iterationOf = new Int32Array(b);
  const foolRestart = new Int32Array(b).fill(c.restarts);
  let pending: Job[] = Array.from({ length: b }, (_, i) => ({ input: i, restart: 0 }));
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
      const fresh = pending.splice(0, Math.max(0, rowCap - jobs.length));
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
        // a fooling restart settles its input's later restarts: the lowest fooling one is kept
        for (let r = 0; r < n; r++) {
          const { input, restart } = jobs[r]!;
          if (fooled[r] && restart < foolRestart[input]!) foolRestart[input] = restart;
        }
        const done = jobs.map(({ input, restart }, r) => !!fooled[r] || t[r] === c.iterations || restart > foolRestart[input]!);
        const [gr] = grad(objective.sum(), xi);
        const next = project(stepAlong(xi.detach(), gr!, c.norm, stepSize), x0!, c.norm, c.eps);
        // harvest finished rows into their inputs; queue the later restarts of inputs whose
        // first restart missed
        const finished: number[] = [];
        for (let r = 0; r < n; r++) if (done[r]) finished.push(r);
        if (finished.length) {
          const fIdx = tensor(BigInt64Array.from(finished, BigInt), { shape: [finished.length], ...on });
          const rows = nb.indexSelect(0, fIdx);
          finished.forEach((r, k) => {
            const { input, restart } = jobs[r]!;
            if (restart > foolRestart[input]!) return; // superseded by a lower fooling restart
            const take = fooled[r] ? true // the lowest fooling restart (only one reaches here)
              : rowBest[r]! > outScore[input]! || (rowBest[r] === outScore[input] && restart < restartOf[input]!);
            if (take) {
              outScore[input] = rowBest[r]!;
              restartOf[input] = restart;
              iterationOf[input] = rowBestIt[r]!;
              outRows[input]?.dispose();
              outRows[input] = rows.slice(0, k, k + 1).contiguous().keep();
            }
            if (!fooled[r] && restart === 0) for (let q = 1; q < c.restarts; q++) pending.push({ input, restart: q });
          });
          // pending restarts above a fooling one will not run
          pending = pending.filter((j) => j.restart < foolRestart[j.input]!);
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
  return { adversarial, restartOf, iterationOf, fooled: Array.from(foolRestart, (r) => r < c.restarts) };
}
