// Early stopping: the job schedule of jobSchedule.ts over the loop's active rows (loop.ts). A
// row is one restart of one input; it leaves the batch as soon as its outcome is settled
// (success is "some iterate fools the model", so a fooled row cannot become unfooled) or its
// iterations run out, and pending rows take its place, so the batch stays full. An input's later
// restarts start only once its first has run to the end unfooled, from the same (seed, input,
// restart) starts as the full protocol.
// Success is the full protocol's; an unfooled input gets the same example (its highest-scoring
// iterate over all restarts, the earlier restart on a tie); a fooled input gets the first
// fooling iterate of its lowest fooling restart, whatever order the restarts finish in, so the
// answers do not depend on the batch.
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/creation.js';
import { enter, iterate, type LoopOptions } from './loop.js';
import { InputExamples, runJobs, type ScheduledJob } from './jobSchedule.js';

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
  const on = { device: o.x0.device };
  const ints = (v: number[], dtype: 'int64' | 'int32') =>
    tensor(dtype === 'int64' ? BigInt64Array.from(v, BigInt) : Int32Array.from(v), { shape: [v.length], dtype, ...on });
  const restartJobs = (jobs: ScheduledJob[]): Job[] => jobs.map(({ input, job }) => ({ input, restart: job }));
  // per input: its kept example as a [1, ...] row (every input gets one from its first
  // restart), and that example's score, restart and iteration
  const examples = new InputExamples(b);
  const outScore = new Float64Array(b).fill(-Infinity);
  const restartOf = new Int32Array(b);
  const iterationOf = new Int32Array(b);
  let foolRestart: Int32Array;
  try {
    foolRestart = runJobs({
      inputs: Array.from({ length: b }, (_, i) => i),
      count: b,
      jobs: o.restarts,
      iterations: o.iterations,
      capacity: Math.max(b, o.capacity),
      leaveWhenSettled: true,
      // new rows start at their own (seed, input, restart) point
      enter: (fresh) => {
        const jobs = restartJobs(fresh);
        const idx = ints(
          jobs.map((j) => j.input),
          'int64',
        );
        const clean = o.x0.indexSelect(0, idx);
        const rows = o.problemRow ? ints(jobs.map(o.problemRow), 'int64') : idx;
        return enter(clean, o.start(jobs, clean), rows, o.rule);
      },
      step: (cur, t, leave) => {
        const step = iterate(cur, ints(t, 'int32'), o, true, (_g, settled) => {
          const done = leave(settled!.toArray<'bool'>());
          const goOn = done.flatMap((d, r) => (d ? [] : [r]));
          return goOn.length === done.length ? null : ints(goOn, 'int64');
        });
        return { kept: step.kept, next: step.next };
      },
      // a fooled input takes its lowest fooling restart's first fooling iterate; an unfooled one
      // its best-scoring iterate over all restarts, the earlier restart on a tie
      finish: (ended, kept) => {
        const fIdx = ints(
          ended.map((e) => e.row),
          'int64',
        );
        const rows = kept.best.indexSelect(0, fIdx);
        const score = kept.score.indexSelect(0, fIdx).toNumbers();
        const it = kept.it.indexSelect(0, fIdx).toNumbers();
        ended.forEach(({ job: { input, job: restart }, settled }, k) => {
          if (!settled && !(score[k]! > outScore[input]! || (score[k] === outScore[input] && restart < restartOf[input]!))) return;
          outScore[input] = score[k]!;
          restartOf[input] = restart;
          iterationOf[input] = it[k]!;
          examples.set(input, rows, k);
        });
      },
    });
  } catch (e) {
    examples.dispose();
    throw e;
  }
  return { adversarial: examples.collect(), restartOf, iterationOf, fooled: Array.from(foolRestart, (r) => r < o.restarts) };
}
