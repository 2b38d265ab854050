// One builder for every attack's per-row records: the examples are judged by the model as given
// (not the folded one the loop ran, and in float32), then each row gets its predictions, norms,
// and the restart and iteration of its kept iterate; rows the loop and the model disagree on are
// attacked again (judgedAgain).
import type { ImageClassifier, ModelOutput } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { tensor } from '../tensor/creation.js';
import type { Precision } from '../tensor/device.js';
import { where, type Tensor } from '../tensor/tensor.js';
import { perRow } from './threat.js';
import { assertInBudget, sampleNorms } from './budget.js';
import type { Norm } from './threat.js';
import type { AttackBatch, AttackOutput, SampleRecord } from './attackTypes.js';

export interface Judged {
  /** The model's output on the examples (eval mode, no gradients). */
  output: ModelOutput;
  /** Per row: the prediction on the example, and the perturbation's L2 and Linf norms. */
  prediction: number[];
  l2: number[];
  linf: number[];
}

/** Checks the examples [R, ...] lie in their budgets around x0 [R, ...], then judges them. */
export function judge(model: ImageClassifier, adversarial: Tensor, x0: Tensor, norm: Norm, eps: number): Judged {
  assertInBudget(adversarial, x0, norm, eps);
  const output = noGrad(() => model.forward(adversarial));
  const d = adversarial.sub(x0);
  return {
    output,
    prediction: output.logits.argmax(1).toNumbers(),
    l2: sampleNorms(d, 'l2').toNumbers(),
    linf: sampleNorms(d, 'linf').toNumbers(),
  };
}

export interface RowFacts {
  /** Per row: its input's data-set position and label, and the clean prediction. */
  index: ArrayLike<number>;
  label: ArrayLike<number>;
  clean: ArrayLike<number>;
  /** Per row: the class the attack pushed away from (untargeted) or towards (targeted). */
  goal: ArrayLike<number>;
  targeted: boolean;
  /** Per row: the restart and iteration of the kept iterate (iteration 0 = the start point). */
  restart: ArrayLike<number>;
  iteration: ArrayLike<number>;
}

/** One record per judged row; success: the prediction left the goal (reached it, targeted). */
export function sampleRecords(j: Judged, f: RowFacts): SampleRecord[] {
  return j.prediction.map((adv, r) => ({
    index: f.index[r]!,
    label: f.label[r]!,
    cleanPrediction: f.clean[r]!,
    adversarialPrediction: adv,
    success: f.targeted ? adv === f.goal[r] : adv !== f.goal[r],
    l2: j.l2[r]!,
    linf: j.linf[r]!,
    restart: f.restart[r]!,
    iteration: f.iteration[r]!,
  }));
}

/** The given rows of a batch: images, labels, indices and targets (a row list of the batch's positions). */
export function batchRows(batch: AttackBatch, rows: readonly number[]): { sub: AttackBatch; idx: Tensor } {
  const idx = tensor(BigInt64Array.from(rows, BigInt), { shape: [rows.length], device: batch.images.device });
  const sub: AttackBatch = {
    images: batch.images.indexSelect(0, idx),
    labels: batch.labels.indexSelect(0, idx),
    indices: rows.map((i) => batch.indices[i]!),
    ...(batch.targets ? { targets: batch.targets.indexSelect(0, idx) } : {}),
  };
  return { sub, idx };
}

/**
 * Judged again: an attack's loop stops a row at an iterate it counts as fooling, but its
 * arithmetic (folded batch norm, bf16 / fp16, TF32, early stopping's iterate just past the
 * boundary) can differ from the judgement's, the model as given in float32. The given rows,
 * counted fooled by the loop and not by the model, are attacked again by `again` (the attack
 * as the reference runs it) and take its records and examples; `rejudged` counts them.
 */
export function judgedAgain<R extends SampleRecord, O extends AttackOutput<R>>(
  batch: AttackBatch,
  out: AttackOutput<R>,
  rows: readonly number[],
  again: (sub: AttackBatch, idx: Tensor) => O,
): { output: AttackOutput<R>; again: O } {
  const { sub, idx } = batchRows(batch, rows);
  const a = again(sub, idx);
  const records = [...out.records];
  rows.forEach((i, k) => {
    records[i] = a.records[k]!;
  });
  const output = { ...out, records, adversarial: out.adversarial.clone().indexCopy_(0, idx, a.adversarial), rejudged: rows.length };
  return { output, again: a };
}

/** The loop ran the model as the judgement does (as given, float32): nothing to judge again. */
export function loopIsJudgement(c: { foldBatchNorm?: boolean; precision?: Precision }): boolean {
  return c.foldBatchNorm === false && (c.precision ?? 'fp32') === 'fp32';
}

/** Inputs the attack did not fool keep their clean image (`images`), as the reference returns them. */
export function unfooledKeepClean<R extends SampleRecord>(out: AttackOutput<R>, images: Tensor): AttackOutput<R> {
  if (out.records.every((r) => r.success || (r.l2 === 0 && r.linf === 0))) return out;
  const failed = tensor(
    Uint8Array.from(out.records, (r) => (r.success ? 0 : 1)),
    { shape: [out.records.length], dtype: 'bool', device: images.device },
  );
  const records = out.records.map((r) =>
    r.success ? r : { ...r, adversarialPrediction: r.cleanPrediction, l2: 0, linf: 0, restart: 0, iteration: 0 },
  );
  return { ...out, records, adversarial: where(perRow(failed, images), images, out.adversarial) };
}
