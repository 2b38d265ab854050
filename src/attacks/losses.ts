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

/**
 * The Difference of Logits Ratio (Croce & Hein 2020; auto-attack's `dlr_loss`), per row of
 * logits [B, C] (C >= 3) against classes y [B]: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12),
 * z_pi the logits sorted in decreasing order. Scale-invariant, ascended by APGD-DLR.
 */
export function dlrLoss(logits: Tensor, y: Tensor): Tensor {
  const c = logits.shape[1]!;
  const { values: s, indices } = logits.sort(1);
  const top = s.select(1, c - 1);
  const topIsY = indices
    .select(1, c - 1)
    .eq(y)
    .float();
  // the reference's order of operations, for its float32 rounding
  return picked(logits, y)
    .sub(s.select(1, c - 2).mul(topIsY))
    .sub(top.mul(topIsY.neg().add(1)))
    .neg()
    .div(top.sub(s.select(1, c - 3)).add(1e-12));
}

/**
 * The targeted DLR loss (auto-attack's `dlr_loss_targeted`), per row of logits [B, C] (C >= 4):
 * -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12) for classes y [B] and targets t [B]; APGD-T
 * ascends it.
 */
export function dlrTargetedLoss(logits: Tensor, y: Tensor, target: Tensor): Tensor {
  const c = logits.shape[1]!;
  const s = logits.sort(1).values;
  return picked(logits, y)
    .sub(picked(logits, target))
    .neg()
    .div(
      s
        .select(1, c - 1)
        .sub(
          s
            .select(1, c - 3)
            .add(s.select(1, c - 4))
            .mul(0.5),
        )
        .add(1e-12),
    );
}

/** logits[r, cls[r]] per row: [B]. */
function picked(logits: Tensor, cls: Tensor): Tensor {
  return logits.gather(1, cls.unsqueeze(1)).squeeze(1);
}

/**
 * APGD's objective: one of its losses per row (float32), ascended. Settled: the iterate is
 * misclassified (its prediction left y; the reference's `acc` becomes 0). Score: 1 when
 * settled, else 0, so the kept iterate is the start or the first misclassified iterate (the
 * best-loss point, which APGD restarts from, is the step rule's: apgdStep).
 */
export function apgdObjective(logits: Tensor, y: Tensor, loss: 'ce' | 'dlr', target?: Tensor): Evaluated {
  const z = logits.float();
  const objective = target ? dlrTargetedLoss(z, y, target) : loss === 'dlr' ? dlrLoss(z, y) : F.crossEntropy(z, y, { reduction: 'none' });
  const settled = z.detach().argmax(1).ne(y);
  return { objective, score: settled.float(), settled };
}
