// The objectives the loop ascends, each with the score that picks a row's kept iterate.
import * as F from '../nn/functional.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Evaluated } from './loop.js';

/** Iterates that fool the model beat all others; among equals the higher loss wins. */
export const SUCCESS_BONUS = 1e4;

/**
 * PGD's objective: the cross-entropy against `goal` [B], ascended (untargeted: away from the
 * class) or descended (targeted: towards it). Settled: the iterate fools the model (its
 * prediction left the goal, or reached it). Score: the objective, plus SUCCESS_BONUS if settled.
 */
export function crossEntropyObjective(logits: Tensor, goal: Tensor, targeted: boolean): Evaluated {
  const ce = F.crossEntropy(logits, goal, { reduction: 'none' });
  const pred = logits.detach().argmax(1);
  const success = targeted ? pred.eq(goal) : pred.ne(goal);
  const objective = targeted ? ce.neg() : ce;
  return { objective, score: success.float().mul(SUCCESS_BONUS).add(objective.detach()), settled: success };
}

/**
 * The k-NS inversion loss per row (method.md section 3), to be descended:
 *   ||z - t|| / ||t|| + lambda * |(z - t) * m| / |t_i|,  m the attacked neuron's one-hot mask.
 * `tNorm` and `tiAbs` are ||t|| and |t_i| (clamped away from 0), [B].
 */
export function inversionLoss(features: Tensor, target: Tensor, tNorm: Tensor, mask: Tensor, tiAbs: Tensor, lambda: number): Tensor {
  const diff = features.sub(target);
  return diff.norm(2, 1).div(tNorm).add(diff.mul(mask).abs().sum(1).div(tiAbs).mul(lambda));
}
