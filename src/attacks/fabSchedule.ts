// FAB's rows: the job schedule of jobSchedule.ts (a row is one job, a target and restart for
// FAB-T or a restart for FAB, of one input; the lowest job that finds an example inside eps gives
// the input its example) with FAB's iteration. With early stopping a row leaves as soon as it has
// fooled the model inside eps (its outcome is settled: success only needs one such iterate),
// keeping that iterate; without, it runs all its iterations and keeps the smallest fooling
// iterate, as the reference. Either way the answers do not depend on which rows share the batch.
import type { ImageClassifier } from '../models/classifier.js';
import { convStackAvailable, convStackRuns } from '../nn/convStack.js';
import { noGrad } from '../tensor/autograd.js';
import { autocast, autocastDtype } from '../tensor/device.js';
import { full, tensor, zeros } from '../tensor/creation.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';
import { keepBetter, type Active, type Kept } from './loop.js';
import { InputExamples, runJobs, type ScheduledJob } from './jobSchedule.js';
import { diffLogitsGrads, fabStep, linearise, recordForward, rowNorms, type FabSettings, type RecordedForward } from './fabStep.js';
import { perRow } from './threat.js';

/** A FAB row's job: target rank * restarts + restart, the order the reference runs them in. */
export type FabJob = ScheduledJob;

export interface FabScheduleOptions extends FabSettings {
  model: ImageClassifier;
  /** The inputs [B, C, H, W] and their labels [B] (int64). */
  x0: Tensor;
  label: Tensor;
  /** Per input and job, the target class [B, jobs] (int64); null: untargeted. */
  target: Tensor | null;
  jobs: number;
  /** The inputs to attack (the others keep their clean image). */
  attacked: number[];
  iterations: number;
  earlyStop: boolean;
  /** Rows stepped together. */
  capacity: number;
  /** The start points of the given jobs, whose clean rows are `clean`. */
  start: (jobs: FabJob[], clean: Tensor) => Tensor;
}

export interface FabScheduleResult {
  /** Per input: its example (the clean image unless fooled inside eps), [B, C, H, W]. */
  adversarial: Tensor;
  /** Per input: the job that found the example and its iteration (-1 and 0 when none did). */
  jobOf: Int32Array;
  iterationOf: Int32Array;
}

/**
 * Whether FAB's judging forward may run the convolution stack, and so record its graph for the
 * gradients. Its backward leaves out the rows that do not use the graph; elsewhere (another
 * device, autocast, a model the stack does not take) the whole batch would run backward, and the
 * graph would hold its activations for nothing. Cleared by the first judging forward that did not
 * run the stack.
 */
interface JudgingStack {
  mayRun: boolean;
}

/** int64 row indices on a device. */
function rowIndex(v: number[], device: string): Tensor {
  return tensor(BigInt64Array.from(v, BigInt), { shape: [v.length], dtype: 'int64', device });
}

/** Runs inside the caller's eval mode and scope. */
export function fabSchedule(o: FabScheduleOptions): FabScheduleResult {
  const b = o.x0.shape[0]!;
  const on = { device: o.x0.device };
  const ints = (v: number[]) => rowIndex(v, o.x0.device);
  const examples = new InputExamples(b);
  const jobOf = new Int32Array(b).fill(-1);
  const iterationOf = new Int32Array(b);
  const stack: JudgingStack = { mayRun: convStackAvailable() && o.x0.device === 'cpu' && (o.precision ?? 'fp32') === 'fp32' };
  try {
    runJobs({
      inputs: o.attacked,
      count: b,
      jobs: o.jobs,
      iterations: o.iterations,
      capacity: o.capacity,
      leaveWhenSettled: o.earlyStop,
      enter: (fresh) => {
        const idx = ints(fresh.map((j) => j.input));
        const clean = o.x0.indexSelect(0, idx);
        const start = o.start(fresh, clean);
        const state = {
          label: o.label.indexSelect(0, idx),
          ...(o.target ? { target: o.target.index([idx, ints(fresh.map((j) => j.job))]) } : {}),
        };
        return {
          x: start,
          x0: clean,
          best: clean,
          score: full([fresh.length], -Infinity, on),
          it: zeros([fresh.length], { dtype: 'int32', ...on }),
          rows: idx,
          state,
        };
      },
      step: (cur, t, leave) => fabIterate(o, stack, cur, t, leave),
      // a row that ends with an example inside eps, from the lowest such job of its input so
      // far, gives the input its example (a lower job ending later replaces it)
      finish: (ended, kept) => {
        const fooling = ended.filter((e) => e.settled);
        if (!fooling.length) return;
        const fIdx = ints(fooling.map((e) => e.row));
        const best = kept.best.indexSelect(0, fIdx);
        const it = kept.it.indexSelect(0, fIdx).toNumbers();
        fooling.forEach(({ job: { input, job } }, k) => {
          jobOf[input] = job;
          iterationOf[input] = it[k]!;
          examples.set(input, best, k);
        });
      },
    });
  } catch (e) {
    examples.dispose();
    throw e;
  }
  return { adversarial: examples.collect(o.x0), jobOf, iterationOf };
}

/**
 * One iteration of the active rows at their iterations t: judge the iterates (not the starts,
 * which the reference never judges) and keep each row's smallest fooling one (score: minus its
 * norm), step back towards the clean input from a fooling iterate, and step the rows that go on.
 * `leave` sees which rows have an example inside eps and says which rows are done. Where the
 * convolution stack runs, the judging forward records its graph and a row that goes on from the
 * iterate it judged takes its gradient from it, so only the rows that step back run a forward of
 * their own.
 */
function fabIterate(
  o: FabScheduleOptions,
  stack: JudgingStack,
  a: Active,
  t: number[],
  leave: (settled: boolean[]) => boolean[],
): { kept: Kept; next: Active | null } {
  const n = a.x.shape[0]!;
  const on = { device: a.x.device };
  const label = a.state.label!;
  let adv = zeros([n], { dtype: 'bool', ...on });
  let kept = { best: a.best, score: a.score, it: a.it };
  let logits: Tensor | null = null;
  let reuse: RecordedForward | null = null;
  if (t.some((v) => v > 0)) {
    if (stack.mayRun) {
      const runs = convStackRuns();
      reuse = recordForward(o.model, a.x, o.precision);
      logits = reuse.logits;
      if (convStackRuns() === runs) [stack.mayRun, reuse] = [false, null];
    } else {
      logits = noGrad(() => autocast(a.x.device, autocastDtype(o.precision ?? 'fp32'), () => o.model.forward(a.x).logits));
    }
  }
  if (logits) {
    const judged = tensor(
      Uint8Array.from(t, (v) => (v > 0 ? 1 : 0)),
      { shape: [n], dtype: 'bool', ...on },
    );
    adv = logits.argmax(1).ne(label).logicalAnd(judged);
    const size = rowNorms(a.x.sub(a.x0).reshape([n, -1]), o.norm);
    const k = keepBetter(kept, {
      best: a.x,
      score: where(adv, size.neg(), -Infinity),
      it: tensor(Int32Array.from(t), { shape: [n], dtype: 'int32', ...on }),
    });
    kept = { best: k.best, score: k.score, it: k.it };
  }
  const done = leave(Array.from(kept.score.ge(-o.eps).toArray<'bool'>(), Boolean));
  const goOn = done.flatMap((d, r) => (d ? [] : [r]));
  if (!goOn.length) return { kept, next: null };
  const idx = goOn.length === n ? null : rowIndex(goOn, a.x.device);
  const pick = (v: Tensor) => (idx ? v.indexSelect(0, idx) : v);
  const x0 = pick(a.x0);
  const x = where(perRow(pick(adv), x0), x0.add(pick(a.x).sub(x0).mul(o.beta)), pick(a.x));
  const state = Object.fromEntries(Object.entries(a.state).map(([k, v]) => [k, pick(v)]));
  const { df, dg } = reuse
    ? lineariseGoingOn(o, reuse, goOn, Array.from(adv.toArray<'bool'>(), Boolean), x, a.state)
    : diffLogitsGrads(o.model, x, state.label!, state.target ?? null, o.precision);
  const next = fabStep(x, x0, df, dg, o);
  return { kept, next: { x: next, x0, best: pick(kept.best), score: pick(kept.score), it: pick(kept.it), rows: pick(a.rows!), state } };
}

/**
 * The linearisation of the rows that go on (`goOn`, rows of the judged batch), in their order: a
 * row that did not fool stays at the iterate the judging forward saw and takes its gradient from
 * that forward; a row that fooled stepped back to x (its row of the rows going on) and runs a
 * forward of its own. Either way the values of diffLogitsGrads at x.
 */
function lineariseGoingOn(
  o: FabScheduleOptions,
  judge: RecordedForward,
  goOn: number[],
  adv: boolean[],
  x: Tensor,
  state: Record<string, Tensor>,
): { df: Tensor; dg: Tensor } {
  // positions among the rows going on, and the rows of the judged batch they are
  const stay = goOn.flatMap((r, k) => (adv[r] ? [] : [k]));
  const back = goOn.flatMap((r, k) => (adv[r] ? [k] : []));
  const judged = (ks: number[]) =>
    rowIndex(
      ks.map((k) => goOn[k]!),
      x.device,
    );
  const pick = (v: Tensor | undefined, rows: Tensor | null) => (v && rows ? v.indexSelect(0, rows) : (v ?? null));
  const parts: { df: Tensor; dg: Tensor }[] = [];
  if (stay.length) {
    const rows = stay.length === adv.length ? null : judged(stay);
    parts.push(linearise(judge, rows, pick(state.label, rows)!, pick(state.target, rows)));
  }
  if (back.length) {
    const rows = judged(back);
    const at = x.indexSelect(0, rowIndex(back, x.device));
    parts.push(diffLogitsGrads(o.model, at, pick(state.label, rows)!, pick(state.target, rows), o.precision));
  }
  if (parts.length === 1) return parts[0]!;
  // back to the order of goOn: stay's rows first, then back's
  const order = new Array<number>(goOn.length);
  [...stay, ...back].forEach((k, at) => (order[k] = at));
  const inOrder = rowIndex(order, x.device);
  return {
    df: cat([parts[0]!.df, parts[1]!.df], 0).indexSelect(0, inOrder),
    dg: cat([parts[0]!.dg, parts[1]!.dg], 0).indexSelect(0, inOrder),
  };
}
