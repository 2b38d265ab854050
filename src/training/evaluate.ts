// Accuracy of a model on a data set, overall and per class, batch by batch.
import type { Progress } from '../progress.js';
import type { ImageDataset } from '../data/dataset.js';
import { batches, batchCount } from '../data/loader.js';
import type { ImageClassifier } from '../models/classifier.js';
import * as F from '../nn/functional.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { withEval } from '../nn/module.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { allGatherJson } from '../tensor/collectives.js';

/** Accuracy on one class's samples. */
export interface ClassAccuracy {
  class: string;
  count: number;
  correct: number;
  accuracy: number;
}

/** A model's clean accuracy and mean cross-entropy loss on a data set, overall and per class. */
export interface Evaluation {
  /** Fraction of samples whose prediction equals the label. */
  accuracy: number;
  loss: number;
  count: number;
  perClass: ClassAccuracy[];
  /** Predicted class of every sample, in data-set order. */
  predictions: Int32Array;
}

/**
 * `acrossRanks`: the process group's ranks share the batches (batch b is rank b mod world's)
 * and every rank adds every batch's loss and counts in data-set order, so each gets exactly
 * the numbers one process computes.
 *
 * @example
 * ```ts
 * const e = await evaluate(model, test);
 * console.log(e.accuracy, e.perClass.map((c) => `${c.class}: ${c.accuracy}`));
 * ```
 */
export async function evaluate(
  model: ImageClassifier,
  ds: ImageDataset,
  opts: { batchSize?: number; onProgress?: (p: Progress) => void; acrossRanks?: boolean } = {},
): Promise<Evaluation> {
  const batchSize = opts.batchSize ?? 256;
  const k = ds.classNames.length;
  if (model.numClasses !== k) throw new Error(`the model has ${model.numClasses} classes, the data set ${ds.name} has ${k}`);
  const world = opts.acrossRanks ? getWorldSize() : 1;
  const rank = world > 1 ? getRank() : 0;
  const total = batchCount(ds, batchSize);
  const counts = new Array<number>(k).fill(0);
  const correct = new Array<number>(k).fill(0);
  const predictions = new Int32Array(ds.length);
  let lossSum = 0;
  let done = 0;
  await withEval(model, async () => {
    const mine = batches(ds, { batchSize, device: model.device, pick: (b) => b % world === rank });
    for (let round = 0; round * world < total; round++) {
      const b = round * world + rank < total ? (await mine.next()).value! : null;
      const local = b
        ? scope(() =>
            noGrad(() => {
              const { logits } = model.forward(b.images);
              return {
                loss: F.crossEntropy(logits, b.labels, { reduction: 'sum' }).item(),
                pred: logits.argmax(1).toNumbers(),
                lab: b.labels.toNumbers(),
              };
            }),
          )
        : null;
      b?.images.dispose();
      b?.labels.dispose();
      for (const part of world > 1 ? allGatherJson(local) : [local]) {
        if (!part) continue;
        lossSum += part.loss;
        part.pred.forEach((p, i) => {
          predictions[done + i] = p;
          counts[part.lab[i]!]!++;
          if (p === part.lab[i]) correct[part.lab[i]!]!++;
        });
        done += part.pred.length;
      }
      const right = correct.reduce((a, c) => a + c, 0);
      opts.onProgress?.({ done: Math.min(total, (round + 1) * world), total, stats: { acc: done ? right / done : 0 } });
    }
  });
  const right = correct.reduce((a, c) => a + c, 0);
  return {
    accuracy: done ? right / done : 0,
    loss: done ? lossSum / done : 0,
    count: done,
    perClass: ds.classNames.map((name, c) => ({
      class: name,
      count: counts[c]!,
      correct: correct[c]!,
      accuracy: counts[c] ? correct[c]! / counts[c]! : 0,
    })),
    predictions,
  };
}
