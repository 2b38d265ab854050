// Accuracy and PGD success as feature neurons are pruned in each order (section 6): the
// curve, its CSV and its figure.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageDataset } from '../data/dataset.js';
import { batches } from '../data/loader.js';
import { subset } from '../data/registry.js';
import type { ImageClassifier } from '../models/classifier.js';
import { robustAccuracy } from '../attacks/robustAccuracy.js';
import { withEval } from '../nn/module.js';
import { lineFigure, saveFigure } from '../reports/figureFiles.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import type { Progress } from '../progress.js';
import { pruneFeatures, pruneOrder, PRUNE_ORDERS, type PruneOrder } from '../analysis/prune.js';

/**
 * One point of a pruning curve: after pruning `count` feature neurons in `order`, the clean accuracy and PGD's success rate (fractions).
 */
export interface PruningRow {
  order: PruneOrder;
  count: number;
  accuracy: number;
  pgdSuccessRate: number;
}

/**
 * Options of {@link pruningCurve}: where to write, and the inputs and PGD budget each point is measured with.
 */
export interface PruningCurveOptions {
  /** Folder for pruning.csv and pruning.png/.svg. */
  out: string;
  seed: number;
  /** Test inputs for accuracy (default all). */
  limit?: number;
  attackLimit: number;
  attackSteps: number;
  attackEps: number;
  /** Called as each (order, count) point of the curve is measured. */
  onProgress?: (p: Progress) => void;
}

/**
 * Evaluates every order at every count; the model's classifier is left as it was. Pruning
 * changes only the classifier, so the test features are computed once.
 *
 * @example
 * ```ts
 * const rows = await pruningCurve(model, result.mostSensitive, [0, 8, 16, 32], test,
 *   { out: 'runs/prune', seed: 0, attackLimit: 500, attackSteps: 10, attackEps: 0.5 });
 * ```
 */
export async function pruningCurve(
  model: ImageClassifier,
  ranking: number[],
  counts: number[],
  test: ImageDataset,
  o: PruningCurveOptions,
): Promise<PruningRow[]> {
  const rows = await withEval(model, () => curveRows(model, ranking, counts, test, o));
  mkdirSync(o.out, { recursive: true });
  writeFileAtomic(
    join(o.out, 'pruning.csv'),
    'order,count,accuracy,pgd_success_rate\n' +
      rows.map((r) => `${r.order},${r.count},${r.accuracy},${r.pgdSuccessRate}`).join('\n') +
      '\n',
  );
  const label = { random: 'random order', most: 'most sensitive first', least: 'least sensitive first' } as const;
  const series = PRUNE_ORDERS.flatMap((ord) => {
    const rs = rows.filter((r) => r.order === ord);
    return [
      { label: `accuracy, ${label[ord]}`, x: rs.map((r) => r.count), y: rs.map((r) => r.accuracy) },
      {
        label: `L2 PGD success (eps ${+o.attackEps.toFixed(4)}), ${label[ord]}`,
        x: rs.map((r) => r.count),
        y: rs.map((r) => r.pgdSuccessRate),
        dashed: true,
      },
    ];
  });
  const fig = await lineFigure(series, {
    title: 'Pruning feature neurons (section 6)',
    xLabel: 'pruned features',
    yLabel: 'rate',
    yDomain: [0, 1],
  });
  saveFigure(o.out, 'pruning', fig);
  return rows;
}

async function curveRows(
  model: ImageClassifier,
  ranking: number[],
  counts: number[],
  test: ImageDataset,
  o: PruningCurveOptions,
): Promise<PruningRow[]> {
  const evalSet = o.limit ? subset(test, { limit: o.limit }) : test;
  const feats: Tensor[] = [];
  const labels: Tensor[] = [];
  for await (const b of batches(evalSet, { batchSize: 256, device: model.device })) {
    feats.push(noGrad(() => model.forward(b.images).features).keep());
    labels.push(b.labels.keep());
    b.images.dispose();
  }
  const z = cat(feats).keep();
  const y = cat(labels).keep();
  for (const t of [...feats, ...labels]) t.dispose();
  const original = model.classifier.weight.clone().keep();
  const rows: PruningRow[] = [];
  let done = 0;
  try {
    for (const ord of PRUNE_ORDERS) {
      const order = pruneOrder(ord, ranking, model.featureDim, o.seed);
      for (const count of counts) {
        noGrad(() => model.classifier.weight.copy_(original));
        pruneFeatures(model, order.slice(0, count));
        const accuracy = scope(() => noGrad(() => model.logitsFromFeatures(z).argmax(1).eq(y).float().mean().item()));
        const attacked = await robustAccuracy(model, test, { norm: 'l2', eps: o.attackEps, steps: o.attackSteps, limit: o.attackLimit });
        rows.push({ order: ord, count, accuracy, pgdSuccessRate: attacked.successRate });
        o.onProgress?.({ done: ++done, total: PRUNE_ORDERS.length * counts.length });
      }
    }
  } finally {
    noGrad(() => model.classifier.weight.copy_(original));
    original.dispose();
    z.dispose();
    y.dispose();
  }
  return rows;
}
