// Transfer: the adversarial examples made on one model, judged by another (the target model).
// Each record gains the target's clean and adversarial predictions; results.json gains the
// target's clean accuracy and the success rate over the inputs it classified correctly.
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import type { AttackRow, Column } from './attackKind.js';

export interface TransferFields {
  targetCleanPrediction?: number;
  targetAdversarialPrediction?: number;
  targetSuccess?: boolean;
}

/**
 * How the adversarial examples fared on another model (transfer): its clean accuracy and the success rate on inputs it classified correctly.
 */
export interface TransferSummary {
  targetCleanAccuracy: number;
  successRateCorrect: number;
}

/**
 * Sets the target's predictions on each record: `images` are the batch's clean inputs,
 * `adversarial` holds `rows` rows per input, one per record.
 */
export function evaluateTransfer(
  target: ImageClassifier,
  images: Tensor,
  adversarial: Tensor,
  rows: number,
  records: (AttackRow & TransferFields)[],
): void {
  const clean = rows === 1 ? images : images.repeatInterleave(rows, 0);
  const tc = noGrad(() => target.eval().forward(clean).logits.argmax(1)).toNumbers();
  const ta = noGrad(() => target.forward(adversarial).logits.argmax(1)).toNumbers();
  records.forEach((r, i) => {
    r.targetCleanPrediction = tc[i]!;
    r.targetAdversarialPrediction = ta[i]!;
    r.targetSuccess = ta[i] !== tc[i];
  });
}

/** Whether the records carry a target's predictions. */
export function hasTransfer(records: TransferFields[]): boolean {
  return records.length > 0 && records[0]!.targetCleanPrediction !== undefined;
}

/** An input counts as transferred when any of its rows fooled the target. */
export function transferSummary(records: (AttackRow & TransferFields)[]): TransferSummary {
  const inputs = new Map<number, AttackRow & TransferFields>();
  for (const r of records) if (!inputs.has(r.index)) inputs.set(r.index, r);
  const t = records.filter((r) => r.targetCleanPrediction === r.label);
  const idx = new Set(t.map((r) => r.index));
  const hit = new Set(t.filter((r) => r.targetSuccess).map((r) => r.index));
  const correct = new Set([...inputs.values()].filter((r) => r.targetCleanPrediction === r.label).map((r) => r.index));
  return { targetCleanAccuracy: inputs.size ? correct.size / inputs.size : 0, successRateCorrect: idx.size ? hit.size / idx.size : 0 };
}

export const TRANSFER_COLUMNS: Column<TransferFields>[] = [
  ['target_clean_prediction', (r) => r.targetCleanPrediction],
  ['target_adversarial_prediction', (r) => r.targetAdversarialPrediction],
  ['target_success', (r) => (r.targetSuccess ? 1 : 0)],
];
