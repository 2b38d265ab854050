// Pruning (method.md section 6): zero the classifier's input weights (columns of W) for
// chosen feature neurons, in random, most-sensitive-first or least-sensitive-first order.
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { randperm, tensor } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { scope } from '../tensor/scope.js';

/**
 * Which feature neurons pruning removes first: the most sensitive, the least sensitive, or a seeded random order.
 */
export type PruneOrder = 'random' | 'most' | 'least';
/** Every pruning order. */
export const PRUNE_ORDERS: readonly PruneOrder[] = ['random', 'most', 'least'];

/**
 * Feature indices in pruning order. `mostSensitive` lists all features most sensitive first
 * (ascending |mean scaled Delta|, as `sensitivity()` returns); random order is seeded.
 */
export function pruneOrder(order: PruneOrder, mostSensitive: number[], featureDim: number, seed = 0): number[] {
  if (!(PRUNE_ORDERS as readonly string[]).includes(order))
    throw new Error(`unknown pruning order '${order}' (expected random, most or least)`);
  if (order === 'random') {
    const p = randperm(featureDim, { generator: new Generator(seed) });
    try {
      return p.toNumbers();
    } finally {
      p.dispose();
    }
  }
  if (mostSensitive.length !== featureDim || new Set(mostSensitive).size !== featureDim) {
    throw new Error(`the sensitivity ranking lists ${mostSensitive.length} features, the model has ${featureDim}`);
  }
  return order === 'most' ? [...mostSensitive] : [...mostSensitive].reverse();
}

export function checkCount(count: number, featureDim: number): void {
  if (!Number.isInteger(count) || count < 0 || count > featureDim) {
    throw new RangeError(`--count must be an integer in 0..${featureDim} (the feature count), got ${count}`);
  }
}

/**
 * Zeroes W[:, j] for every listed feature j, in place.
 *
 * @example
 * ```ts
 * pruneFeatures(model, result.mostSensitive.slice(0, 16)); // the 16 most sensitive neurons no longer reach the logits
 * ```
 */
export function pruneFeatures(model: ImageClassifier, features: number[]): void {
  const f = model.featureDim;
  for (const j of features) if (!Number.isInteger(j) || j < 0 || j >= f) throw new RangeError(`feature ${j} is outside 0..${f - 1}`);
  scope(() =>
    noGrad(() => {
      const keep = new Float32Array(f).fill(1);
      for (const j of features) keep[j] = 0;
      model.classifier.weight.mul_(tensor(keep, { shape: [1, f], device: model.classifier.weight.device }));
    }),
  );
}
