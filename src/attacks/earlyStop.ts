// Early stopping: a scheduler of the loop's active rows (loop.ts). A row is one restart of one
// input; it leaves the batch as soon as its outcome is settled (success is "some iterate fools
// the model", so a fooled row cannot become unfooled) or its iterations run out, and pending
// rows take its place, so the batch stays full. An input's later restarts are queued only once
// its first restart has run to the end unfooled, from the same (seed, input, restart) starts as
// the full protocol; they then run side by side, as many as the batch has room for.
// Success is the full protocol's; an unfooled input gets the same example (its highest-scoring
// iterate over all restarts, the earlier restart on a tie); a fooled input gets the first
// fooling iterate of its lowest fooling restart, whatever order the restarts finish in, so the
// answers do not depend on the batch.
import { scope } from '../tensor/scope.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/creation.js';
import { appendRows, enter, iterate, replaceActive, type Active, type LoopOptions } from './loop.js';

export interface EarlyStopOptions extends LoopOptions {
  /** The inputs [B, ...]: the budgets' centres; `evaluate` gets rows = input indices (or problemRow's). */
  x0: Tensor;
  restarts: number;
  iterations: number;
  /** Rows stepped together (at least one per input). */
  capacity: number;
  /** The start points of restarts `restart[k]` of inputs `input[k]`, whose clean rows are `clean`. */
  start: (jobs: Job[], clean: Tensor) => Tensor;
  /**
   * The problem row `evaluate` gets for a job (default its input): a restart with a goal of its
   * own (APGD-T's target class) is a row of its own.
   */
  problemRow?: (job: Job) => number;
}

export interface Job {
  input: number;
  restart: number;
}

export interface EarlyStopResult {
  /** One example per input: [B, ...]. */
  adversarial: Tensor;
  restartOf: Int32Array;
  iterationOf: Int32Array;
  /** Inputs some iterate fooled, as judged inside the loop (evaluate's `settled`). */
  fooled: boolean[];
}

/** Runs inside the caller's eval mode and scope. */
export function earlyStop(o: EarlyStopOptions): EarlyStopResult {
  const b = o.x0.shape[0]!;
  const rowCap = Math.max(b, o.capacity);
  const on = { device: o.x0.device };
  const ints = (v: number[], dtype: 'int64' | 'int32') =>
    tensor(dtype === 'int64' ? BigInt64Array.from(v, BigInt) : Int32Array.from(v), { shape: [v.length], dtype, ...on });
  // per input: its kept example as a [1, ...] row (every input gets one from its first
  // restart), that example's score, restart and iteration, and its lowest fooling restart
  const outRows: (Tensor | null)[] = Array(b).fill(null);
  const outScore = new Float64Array(b).fill(-Infinity);
  const restartOf = new Int32Array(b);
  const iterationOf = new Int32Array(b);
  const foolRestart = new Int32Array(b).fill(o.restarts);
  let pending: Job[] = Array.from({ length: b }, (_, i) => ({ input: i, restart: 0 }));
  // the active rows: their jobs and iterations (host), and the loop's tensors
  let jobs: Job[] = [];
  let t: number[] = [];
  let a: Active | null = null;
  try {
    while (jobs.length || pending.length) {
      // refill: new rows start at their own (seed, input, restart) point
      const fresh = pending.splice(0, Math.max(0, rowCap - jobs.length));
      if (fresh.length) {
        const prev = a;
        a = replaceActive(prev, scope(() => {
          const idx = ints(fresh.map((j) => j.input), 'int64');
          const clean = o.x0.indexSelect(0, idx);
          const rows = o.problemRow ? ints(fresh.map(o.problemRow), 'int64') : idx;
          const entering = enter(clean, o.start(fresh, clean), rows, o.rule);
          return prev ? appendRows(prev, entering) : entering;
        }));
        jobs = [...jobs, ...fresh];
        t = [...t, ...fresh.map(() => 0)];
      }
      const n = jobs.length;
      let done: boolean[] = [];
      let fooled: Uint8Array = new Uint8Array(n);
      const cur = a!;
      a = replaceActive(cur, scope(() => {
        const step = iterate(cur, ints(t, 'int32'), o, true, (_g, settled) => {
          fooled = settled!.toArray<'bool'>();
          // a fooling restart settles its input's later restarts: the lowest fooling one is kept
          for (let r = 0; r < n; r++) {
            const { input, restart } = jobs[r]!;
            if (fooled[r] && restart < foolRestart[input]!) foolRestart[input] = restart;
          }
          done = jobs.map(({ input, restart }, r) => !!fooled[r] || t[r] === o.iterations || restart > foolRestart[input]!);
          const goOn = done.flatMap((d, r) => (d ? [] : [r]));
          return goOn.length === n ? null : ints(goOn, 'int64');
        });
        // harvest finished rows into their inputs; queue the later restarts of inputs whose
        // first restart missed
        const finished = done.flatMap((d, r) => (d ? [r] : []));
        if (finished.length) {
          const fIdx = ints(finished, 'int64');
          const rows = step.kept.best.indexSelect(0, fIdx);
          const score = step.kept.score.indexSelect(0, fIdx).toNumbers();
          const it = step.kept.it.indexSelect(0, fIdx).toNumbers();
          finished.forEach((r, k) => {
            const { input, restart } = jobs[r]!;
            if (restart > foolRestart[input]!) return; // superseded by a lower fooling restart
            const take = fooled[r] ? true // the lowest fooling restart (only one reaches here)
              : score[k]! > outScore[input]! || (score[k] === outScore[input] && restart < restartOf[input]!);
            if (take) {
              outScore[input] = score[k]!;
              restartOf[input] = restart;
              iterationOf[input] = it[k]!;
              outRows[input]?.dispose();
              outRows[input] = rows.slice(0, k, k + 1).contiguous().keep();
            }
            if (!fooled[r] && restart === 0) for (let q = 1; q < o.restarts; q++) pending.push({ input, restart: q });
          });
          // pending restarts above a fooling one will not run
          pending = pending.filter((j) => j.restart < foolRestart[j.input]!);
        }
        return step.next;
      }));
      const goOn = done.flatMap((d, r) => (d ? [] : [r]));
      jobs = goOn.map((r) => jobs[r]!);
      t = goOn.map((r) => t[r]! + 1);
    }
  } catch (e) {
    for (const r of outRows) r?.dispose();
    throw e;
  } finally {
    replaceActive(a, null);
  }
  const adversarial = cat(outRows as Tensor[], 0);
  for (const r of outRows) r!.dispose();
  return { adversarial, restartOf, iterationOf, fooled: Array.from(foolRestart, (r) => r < o.restarts) };
}
