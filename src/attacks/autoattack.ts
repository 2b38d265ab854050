// AutoAttack (Croce & Hein, ICML 2020) as fra31/auto-attack's autoattack.py runs it: the clean
// prediction first (a misclassified input is not robust and is not attacked), then each attack
// of the version in turn on the inputs every earlier attack failed on; an input's example is
// the first one that fooled it. Its versions are data (autoAttackPlan); its components
// (apgd.ts, fab.ts, square.ts) are called through a table a test can replace.
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { tensor } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { withEval } from '../nn/module.js';
import { assertInBudget, checkBudget } from './budget.js';
import type { AttackBatch, AttackOutput } from './attackTypes.js';
import type { RobustAttackConfig, RobustAttackName, RobustRecord } from './robustAttackTypes.js';
import { autoAttackPlan, type AutoAttackVersion, type PlannedAttack } from './autoattackVersions.js';
import { COMPONENTS, type RobustComponent } from './autoattackComponents.js';
import { shareRows } from './rowShare.js';

export { autoAttackPlan, ROBUST_ATTACKS, AUTOATTACK_VERSIONS, type AutoAttackVersion, type PlannedAttack } from './autoattackVersions.js';
export type { RobustComponent } from './autoattackComponents.js';

export interface AutoAttackConfig extends RobustAttackConfig {
  version: AutoAttackVersion;
  /** version 'custom': the attacks, in the order they run (the reference's attacks_to_run). */
  attacks?: RobustAttackName[];
  /**
   * The process group's ranks share each attack's rows (rowShare.ts): every rank calls with the
   * same batch and gets the same output, the single process's.
   */
  acrossRanks?: boolean;
  /** Replaces components (tests: stand-ins that count their calls); the others are apgd.ts, fab.ts, square.ts. */
  components?: Partial<Record<RobustAttackName, RobustComponent>>;
}

/** One input's outcome under the whole cascade. */
export interface AutoAttackRecord {
  /** Position of the input in the attacked data set, its label and the clean prediction. */
  index: number;
  label: number;
  cleanPrediction: number;
  /**
   * The first attack that fooled the input; null when none did, and for an input the model
   * misclassified clean (not attacked: it is not robust to begin with).
   */
  fooledBy: RobustAttackName | null;
  /** The prediction on the returned example (the clean prediction when no attack fooled it). */
  adversarialPrediction: number;
  /** Norms of the returned example's perturbation (0 when it is the clean image). */
  l2: number;
  linf: number;
}

/** What {@link autoAttack} returns for a batch: one record and one example per input. */
export interface AutoAttackOutput {
  /** One record per input, in batch order. */
  records: AutoAttackRecord[];
  /** Each input's first fooling example, or its clean image: [B, C, H, W], pixels in [0, 1]. */
  adversarial: Tensor;
}

/**
 * Runs a version of AutoAttack on a batch.
 *
 * - `batch.images`: [B, C, H, W] float32 pixels in [0, 1] on the model's device; `labels`: [B]
 *   int64, the true labels robustness is judged against (RobustBench's convention);
 *   `indices`: the inputs' data-set positions (every random draw of a component is seeded by
 *   (seed, position, restart or target)), so an input's outcome does not depend on its batch.
 * - `c.eps`: the budget in the norm's units on [0, 1] pixels.
 * - Returns the records and the examples [B, C, H, W] in the caller's scope; every example lies
 *   in its budget and [0, 1]. The model runs in eval mode and is left as it was.
 *
 * @example
 * const { records } = scope(() => autoAttack(model, { images, labels, indices }, { version: 'standard', norm: 'linf', eps: 8 / 255, seed: 0 }));
 * const robust = records.filter((r) => r.cleanPrediction === r.label && r.fooledBy === null).length / records.length;
 */
export function autoAttack(model: ImageClassifier, batch: AttackBatch, c: AutoAttackConfig): AutoAttackOutput {
  checkBudget(c.norm, c.eps);
  const plan = autoAttackPlan(c.version, c.norm, c.attacks);
  const base: RobustAttackConfig = {
    norm: c.norm,
    eps: c.eps,
    seed: c.seed,
    ...(c.precision ? { precision: c.precision } : {}),
    ...(c.foldBatchNorm === false ? { foldBatchNorm: false } : {}),
    ...(c.rowBatch ? { rowBatch: c.rowBatch } : {}),
  };
  const components = { ...COMPONENTS, ...c.components };
  return withEval(model, () =>
    scope(() => {
      const x0 = batch.images;
      const clean = noGrad(() => model.forward(x0).logits.argmax(1)).toNumbers();
      const labels = batch.labels.toNumbers();
      if (clean.length !== batch.indices.length || labels.length !== clean.length)
        throw new Error('autoAttack: images, labels and indices must have one row per input');
      const records: AutoAttackRecord[] = clean.map((p, i) => ({
        index: batch.indices[i]!,
        label: labels[i]!,
        cleanPrediction: p,
        fooledBy: null,
        adversarialPrediction: p,
        l2: 0,
        linf: 0,
      }));
      const adversarial = x0.clone();
      let robust = records.flatMap((r, i) => (r.cleanPrediction === r.label ? [i] : []));
      for (const p of plan) {
        if (!robust.length) break;
        const run = components[p.attack];
        const shared: RobustComponent = (m, b, planned, cfg) => shareRows(b, (mine) => run(m, mine, planned, cfg));
        robust = scope(() => attackRows(model, batch, robust, p, c.acrossRanks ? shared : run, base, records, adversarial));
      }
      assertInBudget(adversarial, x0, c.norm, c.eps);
      return { records, adversarial };
    }),
  );
}

/**
 * One attack on the given rows: the rows it fooled get its example, prediction and norms, and
 * their record names it. Returns the rows still robust.
 */
function attackRows(
  model: ImageClassifier,
  batch: AttackBatch,
  rows: number[],
  p: PlannedAttack,
  run: RobustComponent,
  base: RobustAttackConfig,
  records: AutoAttackRecord[],
  adversarial: Tensor,
): number[] {
  const device = batch.images.device;
  const idx = tensor(BigInt64Array.from(rows, BigInt), { shape: [rows.length], device });
  const sub: AttackBatch = {
    images: batch.images.indexSelect(0, idx),
    labels: batch.labels.indexSelect(0, idx),
    indices: rows.map((i) => batch.indices[i]!),
  };
  const out: AttackOutput<RobustRecord> = run(model, sub, p, base);
  if (out.records.length !== rows.length || out.adversarial.shape[0] !== rows.length) {
    throw new Error(
      `${p.attack} returned ${out.records.length} records and ${out.adversarial.shape[0]} examples for ${rows.length} inputs`,
    );
  }
  const fooled: number[] = [];
  out.records.forEach((r, k) => {
    if (r.index !== sub.indices[k]) throw new Error(`${p.attack}: record ${k} is input ${r.index}, expected ${sub.indices[k]}`);
    if (!r.success) return;
    fooled.push(k);
    Object.assign(records[rows[k]!]!, { fooledBy: p.attack, adversarialPrediction: r.adversarialPrediction, l2: r.l2, linf: r.linf });
  });
  if (fooled.length) {
    const from = tensor(BigInt64Array.from(fooled, BigInt), { shape: [fooled.length], device });
    const to = tensor(
      BigInt64Array.from(
        fooled.map((k) => rows[k]!),
        BigInt,
      ),
      { shape: [fooled.length], device },
    );
    adversarial.indexCopy_(0, to, out.adversarial.indexSelect(0, from));
  }
  const hit = new Set(fooled);
  return rows.filter((_, k) => !hit.has(k));
}

/**
 * The robust accuracy after each attack, in order, over these records (the reference's
 * robust_accuracy_dict): `clean` first (the clean accuracy), then after attack k the inputs
 * classified correctly that none of the first k attacks fooled, each over all inputs.
 */
export function robustAccuracyByAttack(records: AutoAttackRecord[], attacks: RobustAttackName[]): Record<string, number> {
  const n = records.length;
  const share = (k: number) => (n ? k / n : 0);
  let robust = records.filter((r) => r.cleanPrediction === r.label);
  const out: Record<string, number> = { clean: share(robust.length) };
  for (const a of attacks) {
    robust = robust.filter((r) => r.fooledBy !== a);
    out[a] = share(robust.length);
  }
  return out;
}
