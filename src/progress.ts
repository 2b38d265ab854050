// How long-running work reports how far it got. A bottom-level module: every layer that
// loops over batches takes an `onProgress` callback of this shape, and the CLI draws it.

export interface Progress {
  done: number;
  total: number;
  /** Running values to show (accuracy so far, loss, ...). */
  stats?: Record<string, number>;
}
