// PGD over the first inputs of a data set, reduced to rates: the per-epoch validation attack
// of training and the pruning curves both read a model's robustness this way.
import type { ImageDataset } from '../data/dataset.js';
import { batches } from '../data/loader.js';
import { subset } from '../data/registry.js';
import type { ImageClassifier } from '../models/classifier.js';
import { scope } from '../tensor/scope.js';
import type { Norm } from './budget.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { sumAcrossRanks } from '../tensor/collectives.js';
import { pgdAttack } from './pgd.js';

/** Settings of {@link robustAccuracy}: the PGD budget (norm, eps, steps) and which inputs. */
export interface RobustnessOptions {
  norm: Norm;
  eps: number;
  steps: number;
  /** Default 2.5 * eps / steps. */
  stepSize?: number;
  /** Attack the first `limit` inputs (default all). */
  limit?: number;
  batchSize?: number;
  /** Split the inputs across the process group's ranks; every rank gets the totals. */
  acrossRanks?: boolean;
}

/** A model's robustness to PGD over `count` inputs, as fractions. */
export interface Robustness {
  count: number;
  /** Inputs whose prediction the attack changed. */
  successRate: number;
  /** Inputs classified correctly before and after the attack. */
  robustAccuracy: number;
}

/**
 * PGD from the clean input (no random start, seed 0): the same inputs give the same rates.
 *
 * @example
 * ```ts
 * const r = await robustAccuracy(model, test, { norm: 'l2', eps: 0.5, steps: 20, limit: 1000 });
 * const [lo, hi] = wilson(Math.round(r.robustAccuracy * r.count), r.count); // its 95% interval
 * ```
 */
export async function robustAccuracy(model: ImageClassifier, data: ImageDataset, o: RobustnessOptions): Promise<Robustness> {
  const set = subset(data, { limit: Math.min(o.limit ?? data.length, data.length) });
  // across ranks, the same batches as one process (batch b is rank b mod world's): the counts add up exactly
  const split = o.acrossRanks && getWorldSize() > 1;
  const world = split ? getWorldSize() : 1;
  const rank = split ? getRank() : 0;
  let hit = 0;
  let right = 0;
  let n = 0;
  for await (const b of batches(set, { batchSize: o.batchSize ?? 256, device: model.device, pick: (k) => k % world === rank })) {
    scope(() => {
      const records = pgdAttack(model, b, {
        norm: o.norm,
        eps: o.eps,
        iterations: o.steps,
        stepSize: o.stepSize,
        restarts: 1,
        randomStart: false,
        seed: 0,
      }).records;
      for (const r of records) {
        if (r.success) hit++;
        if (r.cleanPrediction === r.label && r.adversarialPrediction === r.label) right++;
      }
      n += records.length;
      b.images.dispose();
      b.labels.dispose();
    });
  }
  if (split) [hit, right, n] = sumAcrossRanks([hit, right, n]) as [number, number, number];
  return { count: n, successRate: n ? hit / n : 0, robustAccuracy: n ? right / n : 0 };
}
