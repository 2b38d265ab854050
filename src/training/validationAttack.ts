// The validation attack of a training run: L2 PGD on a fixed subset of the test set after every
// epoch, as the reference logs it; its robust accuracy picks the kept epoch of `keep: 'best-robust'`.
import { robustAccuracy } from '../attacks/robustAccuracy.js';
import type { ImageDataset } from '../data/dataset.js';
import type { ImageClassifier } from '../models/classifier.js';
import type { TrainConfig } from './config.js';

/**
 * L2 PGD on the first `validation.limit` test inputs (fixed subset, no random start, the
 * reference's step 2.5 * eps / 10): success rate and robust accuracy.
 */
export async function validationAttack(
  model: ImageClassifier,
  testSet: ImageDataset,
  c: TrainConfig,
  o: { acrossRanks?: boolean } = {},
): Promise<{ successRate: number; robustAccuracy: number }> {
  const v = c.validation;
  return robustAccuracy(model, testSet, {
    norm: 'l2',
    eps: v.eps,
    steps: v.steps,
    stepSize: (2.5 * v.eps) / 10,
    limit: v.limit,
    acrossRanks: o.acrossRanks,
  });
}
