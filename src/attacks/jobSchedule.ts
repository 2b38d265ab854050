// The active rows of an attack as a queue of jobs, shared by earlyStop.ts (PGD, APGD) and
// fabSchedule.ts (FAB): a row is one job (a restart; a target and restart) of one input. An
// input's first job runs alone; only once it ends without fooling the model do its later jobs
// start, side by side as extra rows, as many as the batch has room for. The reference runs job k
// only on the inputs jobs 0..k-1 missed, so the lowest fooling job answers: a job stops once a
// lower one of its input has fooled, and later jobs above it never start. Rows leave when their
// iterations run out or, with `leaveWhenSettled`, as soon as they fool. How rows enter, step
// and give their input its answer is the caller's.
import { scope } from '../tensor/scope.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { appendRows, replaceActive, type Active, type Kept } from './loop.js';

/** Job `job` (jobs in the order the reference runs them) of input `input` (a row of the batch). */
export interface ScheduledJob {
  input: number;
  job: number;
}

/** A row that left the loop, and whether it fooled the model (its settled flag). */
export interface EndedRow {
  /** Its position among the iteration's active rows. */
  row: number;
  job: ScheduledJob;
  settled: boolean;
}

export interface JobScheduleOptions {
  /** The inputs to attack (rows of the batch, below `count`), each starting with job 0. */
  inputs: number[];
  count: number;
  /** Jobs per input. */
  jobs: number;
  iterations: number;
  /** Rows stepped together. */
  capacity: number;
  /** Rows leave as soon as they fool (their outcome is settled), not only when their iterations run out. */
  leaveWhenSettled: boolean;
  /** The rows of these jobs entering the loop, at iteration 0. */
  enter: (fresh: ScheduledJob[]) => Active;
  /**
   * One iteration of the active rows at iterations `t`: `leave` takes each row's settled flag and
   * returns which rows are done; the rows that go on step into `next`.
   */
  step: (a: Active, t: number[], leave: (settled: ArrayLike<number | boolean>) => boolean[]) => { kept: Kept; next: Active | null };
  /** The rows that ended this iteration, but those a lower fooling job superseded, with every active row's kept iterate. */
  finish: (ended: EndedRow[], kept: Kept) => void;
}

/**
 * Runs the jobs inside the caller's eval mode and scope; returns per input the lowest job that
 * fooled it (`jobs` when none did).
 */
export function runJobs(o: JobScheduleOptions): Int32Array {
  const foolJob = new Int32Array(o.count).fill(o.jobs);
  let pending: ScheduledJob[] = o.inputs.map((input) => ({ input, job: 0 }));
  // the active rows: their jobs and iterations (host), and the loop's tensors
  let rows: ScheduledJob[] = [];
  let t: number[] = [];
  let a: Active | null = null;
  try {
    while (rows.length || pending.length) {
      const fresh = pending.splice(0, Math.max(0, o.capacity - rows.length));
      if (fresh.length) {
        const prev = a;
        a = replaceActive(
          prev,
          scope(() => {
            const entering = o.enter(fresh);
            return prev ? appendRows(prev, entering) : entering;
          }),
        );
        rows = [...rows, ...fresh];
        t = [...t, ...fresh.map(() => 0)];
      }
      let done: boolean[] = [];
      const cur = a!;
      a = replaceActive(
        cur,
        scope(() => {
          let settled: boolean[] = [];
          const step = o.step(cur, t, (flags) => {
            settled = Array.from(flags, Boolean);
            // a fooling job settles its input's later jobs: the lowest fooling one answers
            settled.forEach((s, r) => {
              const { input, job } = rows[r]!;
              if (s && job < foolJob[input]!) foolJob[input] = job;
            });
            done = rows.map(({ input, job }, r) => t[r] === o.iterations || (o.leaveWhenSettled && settled[r]!) || job > foolJob[input]!);
            return done;
          });
          const ended = done.flatMap((d, r) =>
            d && rows[r]!.job <= foolJob[rows[r]!.input]! ? [{ row: r, job: rows[r]!, settled: settled[r]! }] : [],
          );
          if (ended.length) o.finish(ended, step.kept);
          // an input whose first job ended without fooling gets its later jobs
          done.forEach((d, r) => {
            const { input, job } = rows[r]!;
            if (d && job === 0 && foolJob[input] === o.jobs) for (let q = 1; q < o.jobs; q++) pending.push({ input, job: q });
          });
          pending = pending.filter((j) => j.job < foolJob[j.input]!);
          return step.next;
        }),
      );
      const goOn = done.flatMap((d, r) => (d ? [] : [r]));
      rows = goOn.map((r) => rows[r]!);
      t = goOn.map((r) => t[r]! + 1);
    }
  } finally {
    replaceActive(a, null);
  }
  return foolJob;
}

/** Per input, the example its jobs gave it: a [1, ...] row kept until collected. */
export class InputExamples {
  readonly #rows: (Tensor | null)[];

  constructor(count: number) {
    this.#rows = Array(count).fill(null);
  }

  /** Row k of `rows` becomes the input's example, replacing any earlier one. */
  set(input: number, rows: Tensor, k: number): void {
    this.#rows[input]?.dispose();
    this.#rows[input] = rows
      .slice(0, k, k + 1)
      .contiguous()
      .keep();
  }

  /**
   * The examples [count, ...] in input order, in the caller's scope; an input without one takes
   * its row of `fallback`. Frees the kept rows.
   */
  collect(fallback?: Tensor): Tensor {
    const missing = this.#rows.findIndex((r) => !r);
    if (missing >= 0 && !fallback) throw new Error(`input ${missing} has no example`);
    const all = scope(() =>
      cat(
        this.#rows.map((r, i) => r ?? fallback!.slice(0, i, i + 1)),
        0,
      ),
    );
    this.dispose();
    return all;
  }

  /** Frees the kept rows (a run that failed). */
  dispose(): void {
    for (const r of this.#rows) r?.dispose();
    this.#rows.fill(null);
  }
}
