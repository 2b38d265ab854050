// The contract AutoAttack's components share (fra31/auto-attack's APGD-CE, APGD-DLR, APGD-T,
// FAB, FAB-T and Square, and the cascade that runs them): a config in, one record per input out,
// as every attack here (attackTypes.ts). Robustness is judged against the true labels, as
// RobustBench does: an input is fooled when the model's prediction on its example differs
// from its label.
import type { Precision } from '../tensor/device.js';
import type { Norm } from './threat.js';
import type { SampleRecord } from './attackTypes.js';

/** The attacks AutoAttack's versions are made of, named as the reference names them. */
export type RobustAttackName = 'apgd-ce' | 'apgd-dlr' | 'apgd-t' | 'fab' | 'fab-t' | 'square';

/** What every AutoAttack component takes, besides its own settings. */
export interface RobustAttackConfig {
  norm: Norm;
  eps: number;
  /**
   * Random draws (starts, Square's windows) come from per-row generators seeded by (seed, the
   * input's data-set index, restart or target), so an input's answer does not depend on the
   * batch it is attacked in, on the rows beside it, or on how many processes share the work.
   * (The reference draws from one global stream per batch; its answers depend on the batch.)
   */
  seed: number;
  /** fp32 (default), or autocast the model's forward and backward to bf16 / fp16. */
  precision?: Precision;
  /** Fold batch norm into the convolutions while iterating (default true), as the other attacks. */
  foldBatchNorm?: boolean;
  /** Rows stepped together (memory against speed); the answers do not depend on it. */
  rowBatch?: number;
}

/**
 * One input's outcome. `success`: the prediction on the example differs from the label.
 * `restart`: the restart (APGD, FAB, Square) or the target's rank among the classes by clean
 * logit (APGD-T, FAB-T: 0 = the highest class other than the label) that found the example;
 * `iteration`: the iteration (or Square's query) that reached it. An input the attack did not
 * fool keeps its clean image as its example (the reference returns it so), with norms 0.
 */
export type RobustRecord = SampleRecord;
