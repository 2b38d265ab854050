// The k-NS attack (the neuron sensitivity attack, method.md section 3; docs/glossary.md): for each
// input, its k highest-ranked neurons (ascending scaled Delta) are attacked one by one, all in
// one batch (one neuron attack per row, inputs x neurons): the loop (pgdLoop) without random
// start descends the inversion loss (losses.ts), keeping the iterate with the highest
// cross-entropy against the clean prediction.
import type { ImageClassifier } from '../models/classifier.js';
import * as F from '../nn/functional.js';
import { noGrad } from '../tensor/autograd.js';
import { arange } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';
import { where, type Tensor } from '../tensor/tensor.js';
import { ATTACK_DEFAULTS } from './defaults.js';
import { delta } from '../analysis/delta.js';
import { rankNeurons, scaleDeltas } from '../analysis/scaled.js';
import { checkBudget } from './budget.js';
import { inversionLoss } from './losses.js';
import { pgdLoop } from './pgdLoop.js';
import { judge, sampleRecords } from './records.js';
import {
  checkIterations,
  defaultStepSize,
  iterating,
  type AttackBatch,
  type AttackOutput,
  type BudgetConfig,
  type NeuronRecord,
} from './attackTypes.js';
import { withEval } from '../nn/module.js';

/**
 * Settings of {@link knsAttack}: the budget, which ranks of each input's sensitivity ranking are attacked, and the feature statistics that ranking uses.
 */
export interface KnsConfig extends BudgetConfig {
  /** Ranks attacked for each input: [rankStart, rankStart + rankCount), 0 = most sensitive. */
  rankStart?: number;
  rankCount: number;
  /** Weight of the attacked neuron's own term (the reference: 10). */
  lambda?: number;
  /** Identity gradient through the final ReLU (the reference does this for ResNets). */
  fakeRelu: boolean;
  /** Per-feature mean and std the ranking scales Delta with (method.md section 2). */
  featureMean: ArrayLike<number>;
  featureStd: ArrayLike<number>;
  /**
   * false: step every row for every iteration. By default rows that cannot move (no gradient
   * at the clean input) stop after the first gradient; the records are the same.
   */
  earlyStop?: boolean;
  /** Rows (inputs x neurons) stepped together; default defaultKnsRowBatch's. The records do not depend on it. */
  rowBatch?: number;
}

/**
 * Rows stepped together when the caller does not say. On the CPU a step costs more per row
 * past a few hundred rows of the small CNN (BENCHMARKS.md, "Attack: PGD restarts and k-NS rows
 * per step on the CPU"); a GPU takes them all at once (its steps are host-bound).
 */
export function defaultKnsRowBatch(rows: number, device: string): number {
  return device === 'cpu' ? Math.min(rows, 256) : rows;
}

export function checkKnsConfig(c: KnsConfig, featureDim: number): void {
  checkBudget(c.norm, c.eps);
  checkIterations(c.iterations);
  const start = c.rankStart ?? 0;
  if (!Number.isInteger(c.rankCount) || c.rankCount < 1)
    throw new RangeError(`number of neurons must be a positive integer, got ${c.rankCount}`);
  if (!Number.isInteger(start) || start < 0 || start + c.rankCount > featureDim) {
    throw new RangeError(`neuron ranks ${start + 1}..${start + c.rankCount} exceed the model's ${featureDim} features`);
  }
  if (c.rowBatch !== undefined && !(Number.isInteger(c.rowBatch) && c.rowBatch >= 1))
    throw new RangeError(`rows per step must be a positive integer, got ${c.rowBatch}`);
  if (c.featureMean.length !== featureDim || c.featureStd.length !== featureDim) {
    throw new Error(`feature statistics have ${c.featureMean.length} entries, the model has ${featureDim} features`);
  }
}

/**
 * k-NS: for each input, the neurons of ranks [rankStart, rankStart + rankCount) by ascending
 * scaled Delta, each attacked on its own (one neuron attack per row, input-major); k = rankCount
 * from rank 1.
 *
 * - `batch.images`: [B, C, H, W] float32 pixels in [0, 1] on the model's device; `labels` [B].
 * - `c.eps`: the budget in the norm's units on [0, 1] pixels; step size default 2.5 * eps /
 *   iterations; `featureMean` / `featureStd`: the model's feature statistics, [featureDim] each.
 * - Returns B * rankCount NeuronRecords (one per neuron attack) and the examples
 *   [B * rankCount, C, H, W] float32 in the caller's scope; success: the prediction left the
 *   clean one. `knsSuccessRates` turns the records into the k-NS success rates.
 *
 * @example
 * const stats = await featureStats(model, [subset(train, { limit: 500 })]);
 * const { records } = scope(() => knsAttack(model, batch, { norm: 'l2', eps: 0.5, iterations: 50, seed: 0,
 *   rankCount: 16, fakeRelu: defaultFakeRelu(model.config.arch), featureMean: stats.mean, featureStd: stats.std }));
 * const rates = knsSuccessRates(records, [1, 4, 8, 16]); // { '1': 1-NS, '4': 4-NS, ... }
 */
export function knsAttack(model: ImageClassifier, batch: AttackBatch, c: KnsConfig): AttackOutput<NeuronRecord> {
  const f = model.featureDim;
  checkKnsConfig(c, f);
  const b = batch.images.shape[0]!;
  const start = c.rankStart ?? 0;
  const n = c.rankCount;
  const lambda = c.lambda ?? ATTACK_DEFAULTS.kns.lambda;
  return withEval(model, () => {
    return scope(() => {
      const x = batch.images;
      const { logits, features: z } = noGrad(() => model.forward(x));
      const cleanPred = logits.argmax(1);
      const d = delta(logits, z, model.classifier.weight).t().contiguous(); // [B, F]
      // The reference ranks with eps = 0 in the scaling.
      const ranking = rankNeurons(scaleDeltas(d, c.featureMean, c.featureStd, 0)); // [B, F]
      // +inf Deltas (no flip through this neuron alone) are replaced by the largest finite Delta. The
      // reference takes that maximum over its attack batch; here it is per input, so the
      // targets do not depend on how inputs are batched.
      const finite = d.isfinite();
      const maxFinite = where(finite, d, Number.NEGATIVE_INFINITY).amax(1, true);
      const dFilled = where(finite, d, where(maxFinite.isfinite(), maxFinite, 0).expandAs(d));
      const chosen = ranking.slice(1, start, start + n); // [B, n] neuron indices
      const on = { device: x.device };
      const rowInput = arange(0, b, 1, on).repeatInterleave(n, 0); // [B*n]
      const neuron = chosen.reshape([b * n]);
      const allRows = arange(0, b * n, 1, on);
      const deltaRow = dFilled.index([rowInput, neuron]); // [B*n]
      const mask = F.oneHot(neuron, f).to('float32'); // [B*n, F]
      const targetOf = (zc: Tensor) => zc.indexSelect(0, rowInput).add(mask.mul(deltaRow.unsqueeze(1)));
      const targetI = targetOf(z).index([allRows, neuron]); // [B*n]
      const x0 = x.indexSelect(0, rowInput);
      const goal = cleanPred.indexSelect(0, rowInput);
      const run = iterating(model, c, () => {
        // The target is the iterating model's own clean features plus Delta: with batch norm
        // folded they differ from z by rounding, and an L2 step (along the normalised gradient)
        // would turn that rounding into a full step for a row that cannot otherwise move.
        const target = targetOf(noGrad(() => model.forward(x).features));
        const tNorm = target.norm(2, 1).clamp(1e-12, null);
        const tiAbs = target.index([allRows, neuron]).abs().clamp(1e-12, null);
        // A row whose loss has no gradient at the clean input (an inactive target behind a true
        // ReLU: only its own coordinate of z differs from the target) never moves; the loop
        // stops stepping it after the first gradient, with the full loop's answers, and steps
        // the rest in chunks of moving rows.
        return pgdLoop({
          x0,
          start: x0,
          norm: c.norm,
          eps: c.eps,
          stepSize: defaultStepSize(c),
          iterations: c.iterations,
          precision: c.precision,
          dropFrozen: c.earlyStop !== false,
          rowBatch: c.rowBatch ?? defaultKnsRowBatch(b * n, x.device),
          evaluate: (xi, rows) => {
            const pick = (t: Tensor) => (rows ? t.indexSelect(0, rows) : t);
            const out = model.forward(xi, { fakeRelu: c.fakeRelu });
            const loss = inversionLoss(out.features, pick(target), pick(tNorm), pick(mask), pick(tiAbs), lambda);
            return { objective: loss.neg(), score: F.crossEntropy(out.logits.detach(), pick(goal), { reduction: 'none' }) };
          },
        });
      });
      const judged = judge(model, run.best, x0, c.norm, c.eps);
      const zi = judged.output.features.index([allRows, neuron]).toNumbers();
      const clean = goal.toNumbers();
      const labels = batch.labels.toNumbers();
      const inputOf = (r: number) => Math.floor(r / n);
      const samples = sampleRecords(judged, {
        index: Array.from({ length: b * n }, (_, r) => batch.indices[inputOf(r)]!),
        label: Array.from({ length: b * n }, (_, r) => labels[inputOf(r)]!),
        clean,
        goal: clean,
        targeted: false,
        restart: new Int32Array(b * n),
        iteration: run.bestIteration,
      });
      const neurons = neuron.toNumbers();
      const deltas = d.index([rowInput, neuron]).toNumbers();
      const tis = targetI.toNumbers();
      const zClean = z.index([rowInput, neuron]).toNumbers();
      const records: NeuronRecord[] = samples.map((s, r) => {
        const dv = deltas[r]!;
        return {
          ...s,
          neuron: neurons[r]!,
          rank: start + (r % n) + 1,
          delta: dv,
          deltaAchieved: Number.isFinite(dv) ? (dv >= 0 ? zi[r]! >= tis[r]! : zi[r]! <= tis[r]!) : false,
          active: zClean[r]! > 0,
        };
      });
      return { records, adversarial: run.best, frozenRows: run.frozenRows };
    });
  });
}

/**
 * The k-NS success rate for each k in `ks` (Table 1's columns), keyed by k: an input counts as
 * fooled when any of its neuron attacks of rank 1..k succeeded. `over` keeps only some records
 * (e.g. correctly classified inputs).
 *
 * @example
 * ```ts
 * const rates = knsSuccessRates(out.records, [1, 5, 10]); // { '1': ..., '5': ..., '10': ... }, fractions
 * ```
 */
export function knsSuccessRates(records: NeuronRecord[], ks: number[], over?: (r: NeuronRecord) => boolean): Record<string, number> {
  const byInput = new Map<number, NeuronRecord[]>();
  for (const r of records) {
    if (over && !over(r)) continue;
    const list = byInput.get(r.index) ?? [];
    list.push(r);
    byInput.set(r.index, list);
  }
  const out: Record<string, number> = {};
  for (const k of ks) {
    let hit = 0;
    for (const list of byInput.values()) if (list.some((r) => r.rank <= k && r.success)) hit++;
    out[String(k)] = byInput.size ? hit / byInput.size : 0;
  }
  return out;
}
