// Square Attack (Andriushchenko et al., ECCV 2020), the score-based black-box attack that closes
// AutoAttack, as fra31/auto-attack's square.py defines it (its perturb): only inputs the model
// classifies correctly are attacked; each restart runs on the inputs still unfooled, and an
// input takes the example of the first restart that fools it, judged by the model as given.
// Its random draws come from one generator per (input, restart), not one stream per batch.
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { tensor } from '../tensor/creation.js';
import { derivedGenerator } from '../tensor/random.js';
import { scope } from '../tensor/scope.js';
import { withEval } from '../nn/module.js';
import { LocalForward } from '../nn/localForward.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkBudget } from './budget.js';
import { judge, judgedAgain, loopIsJudgement, sampleRecords } from './records.js';
import { GeneratorStream } from './squareDraws.js';
import { squareRun, type SquareRunResult } from './squareRun.js';
import { iterating, type AttackBatch, type AttackOutput } from './attackTypes.js';
import type { RobustAttackConfig, RobustRecord } from './robustAttackTypes.js';

export interface SquareConfig extends RobustAttackConfig {
  /** n_queries: queries per restart after the start point (AutoAttack: 5000). */
  queries?: number;
  /** p_init: the fraction of the image the first squares cover (AutoAttack: 0.8). */
  pInit?: number;
  /** n_restarts (AutoAttack: 1). */
  restarts?: number;
  /** resc_schedule: stretch the p schedule over `queries` (AutoAttack: false, the default here). */
  rescaleSchedule?: boolean;
  /**
   * Linf, CPU, fp32, a model with a local plan (small-cnn, VGG): later queries rerun only the
   * activations their square reaches (nn/localForward.ts), with the same logits. false: every
   * query runs the whole model. Default true.
   */
  localForward?: boolean;
}

/** What {@link squareAttack} returns: the records and examples, and the queries each input took. */
export interface SquareOutput extends AttackOutput<RobustRecord> {
  /** Per input: the forward passes its rows took (the reference's n_queries, summed over restarts; 0 when not attacked). */
  queries: Int32Array;
}

/** AutoAttack's Square settings (autoattack.py). */
export const SQUARE_DEFAULTS = { queries: 5000, pInit: 0.8, restarts: 1, rescaleSchedule: false } as const;

/** The tag of Square's per-row generators (derivedGenerator(seed, index, restart, tag)). */
export const SQUARE_STREAM = 53;

/**
 * Rows per forward pass when the caller does not say: on the CPU, chunks of 256 rows (as PGD's
 * restarts, BENCHMARKS.md); a GPU takes every row at once.
 */
export function defaultSquareRowBatch(device: string): number {
  return device === 'cpu' ? 256 : Number.MAX_SAFE_INTEGER;
}

export function checkSquareConfig(c: SquareConfig): void {
  checkBudget(c.norm, c.eps);
  const q = c.queries ?? SQUARE_DEFAULTS.queries;
  if (!Number.isInteger(q) || q < 0) throw new RangeError(`square: queries must be a non-negative integer, got ${q}`);
  const p = c.pInit ?? SQUARE_DEFAULTS.pInit;
  if (!(p > 0 && p <= 1)) throw new RangeError(`square: pInit must be in (0, 1], got ${p}`);
  const r = c.restarts ?? SQUARE_DEFAULTS.restarts;
  if (!Number.isInteger(r) || r < 1) throw new RangeError(`square: restarts must be a positive integer, got ${r}`);
  if (c.rowBatch !== undefined && !(Number.isInteger(c.rowBatch) && c.rowBatch > 0))
    throw new RangeError(`square: rowBatch must be a positive integer, got ${c.rowBatch}`);
}

/**
 * Square Attack, untargeted, on the margin loss (the label's logit minus the highest other),
 * with square.py's p schedule, square sizes, starts and updates.
 *
 * - `batch.images`: [B, C, H, W] float32 pixels in [0, 1] on the model's device; `labels`: [B]
 *   int64; `indices`: the inputs' data-set positions (seed the draws).
 * - `c.eps`: the budget on [0, 1] pixels (L2 over all C*H*W pixels, or Linf per pixel).
 * - Returns one record per input (success: the prediction on the example differs from the
 *   label; `restart` and `iteration`: the restart and query that found a fooling example, 0 and
 *   0 for inputs not fooled or not attacked), the examples [B, C, H, W] (an input not fooled
 *   keeps its clean image, as square.py returns it) and the queries per input, in the caller's
 *   scope. The model runs in eval mode, forward passes only, and is left as it was.
 *
 * @example
 * const { records } = scope(() => squareAttack(model, { images, labels, indices: [0, 1, 2, 3] },
 *   { norm: 'linf', eps: 8 / 255, seed: 0 }));
 * const robust = records.filter((r) => !r.success).length / records.length;
 */
export function squareAttack(model: ImageClassifier, batch: AttackBatch, c: SquareConfig): SquareOutput {
  checkSquareConfig(c);
  const x0 = batch.images;
  if (x0.ndim !== 4) throw new Error(`square: images must be [B, C, H, W], got [${x0.shape.join(', ')}]`);
  const b = x0.shape[0]!;
  if (batch.labels.shape[0] !== b || batch.indices.length !== b) {
    throw new Error(`square: ${b} images but ${batch.labels.shape[0]} labels and ${batch.indices.length} indices`);
  }
  if (b === 0) return { records: [], adversarial: x0.clone(), queries: new Int32Array(0) };
  const s: Settings = {
    ...c,
    queries: c.queries ?? SQUARE_DEFAULTS.queries,
    pInit: c.pInit ?? SQUARE_DEFAULTS.pInit,
    restarts: c.restarts ?? SQUARE_DEFAULTS.restarts,
    rescaleSchedule: c.rescaleSchedule ?? SQUARE_DEFAULTS.rescaleSchedule,
  };
  return withEval(model, () =>
    scope(() => {
      const labels = batch.labels.toNumbers();
      const clean = noGrad(() => model.forward(x0).logits.argmax(1)).toNumbers();
      const restartOf = new Int32Array(b);
      const iterationOf = new Int32Array(b);
      const queries = new Int32Array(b);
      const adversarial = x0.clone();
      let open = clean.flatMap((p, i) => (p === labels[i] ? [i] : []));
      const exact = loopIsJudgement(s);
      // The loop stops a row once its margin is <= 0; where its arithmetic differs from the
      // judgement's (folded batch norm, autocast), the model as given may still classify that
      // example right. Such an input leaves the loop and is judged again (judgedAgain).
      const disputed: number[] = [];
      for (let r = 0; r < s.restarts && open.length; r++) {
        const rows = open;
        scope(() => {
          const run = restart(model, batch, s, rows, r);
          const split = rows.flatMap((i, k) => (!exact && run.margin[k]! <= 0 && run.pred[k] === labels[i] ? [i] : []));
          disputed.push(...split);
          // square.py's perturb: a restart's example counts when the model's prediction on it
          // differs from the label, else the input keeps its clean image
          const fooled = rows.flatMap((i, k) => (run.pred[k] !== labels[i] ? [k] : []));
          rows.forEach((i, k) => {
            queries[i]! += run.queries[k]!;
          });
          for (const k of fooled) {
            restartOf[rows[k]!] = r;
            iterationOf[rows[k]!] = run.iteration[k]!;
          }
          if (fooled.length) {
            const to = ints(
              fooled.map((k) => rows[k]!),
              x0.device,
            );
            adversarial.indexCopy_(0, to, run.best.indexSelect(0, ints(fooled, x0.device)));
          }
          const gone = new Set([...fooled.map((k) => rows[k]!), ...split]);
          open = rows.filter((i) => !gone.has(i));
        });
      }
      const records = sampleRecords(judge(model, adversarial, x0, s.norm, s.eps), {
        index: batch.indices,
        label: labels,
        clean,
        goal: labels,
        targeted: false,
        restart: restartOf,
        iteration: iterationOf,
      });
      const out = { records, adversarial, queries };
      if (!disputed.length) return out;
      // such an input gets the answer, and the queries, of the attack on the model as given
      const { output, again } = judgedAgain(batch, out, disputed, (sub) =>
        squareAttack(model, sub, { ...c, foldBatchNorm: false, precision: 'fp32' }),
      );
      disputed.forEach((i, k) => {
        queries[i] = again.queries[k]!;
      });
      return { ...output, queries };
    }),
  );
}

type Settings = SquareConfig & Required<Pick<SquareConfig, 'queries' | 'pInit' | 'restarts' | 'rescaleSchedule'>>;

function ints(v: number[], device: string): Tensor {
  return tensor(
    BigInt64Array.from(v, (k) => BigInt(k)),
    { shape: [v.length], device },
  );
}

/** Restart r of the given inputs (batch rows): the run's answer and the model's prediction on each kept example. */
function restart(model: ImageClassifier, batch: AttackBatch, s: Settings, rows: number[], r: number): SquareRunResult & { pred: number[] } {
  const idx = ints(rows, batch.images.device);
  const local = localForwardFor(model, s, rows.length, batch.images);
  let run: SquareRunResult;
  try {
    run = iterating(model, { ...s, iterations: s.queries }, () =>
      noGrad(() =>
        squareRun({
          local,
          logits: (x) => model.forward(x).logits,
          x0: batch.images.indexSelect(0, idx),
          labels: batch.labels.indexSelect(0, idx),
          norm: s.norm,
          eps: s.eps,
          queries: s.queries,
          pInit: s.pInit,
          rescaleSchedule: s.rescaleSchedule,
          streams: rows.map((i) => new GeneratorStream(derivedGenerator(s.seed, batch.indices[i]!, r, SQUARE_STREAM))),
          rowBatch: s.rowBatch ?? defaultSquareRowBatch(batch.images.device),
          precision: s.precision,
        }),
      ),
    );
  } finally {
    local?.dispose();
  }
  return { ...run, pred: noGrad(() => model.forward(run.best).logits.argmax(1)).toNumbers() };
}

/** The model's local forward for Square's Linf queries, when it has one and its caches for these rows fit in 1 GiB. */
function localForwardFor(model: ImageClassifier, s: Settings, rows: number, x: Tensor): LocalForward | null {
  if (s.localForward === false || s.norm !== 'linf' || (s.precision ?? 'fp32') !== 'fp32' || x.device !== 'cpu') return null;
  const plan = model.localPlan();
  const local = plan && LocalForward.of(plan, x.shape.slice(1) as [number, number, number]);
  if (!local || rows * local.cachedPerRow() * 4 > 2 ** 30) return null;
  return local;
}
