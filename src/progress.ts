// How long-running work reports how far it got. A bottom-level module: every layer that
// loops over batches takes an `onProgress` callback of this shape, and the CLI draws it.

/**
 * How far a long computation is: `done` of `total` units (batches, inputs, steps), for `onProgress` callbacks.
 */
export interface Progress {
  done: number;
  total: number;
  /** Running values to show (accuracy so far, loss, ...). */
  stats?: Record<string, number>;
}
