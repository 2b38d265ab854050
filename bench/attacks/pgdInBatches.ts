// PGD over a set of inputs in fixed batches, attacking each input's clean prediction: the
// timed unit of the protocol benchmarks (bench/attacks/pgdProtocol.ts, bench/attacks/earlyStopDevice.ts).
import { noGrad, scope, type ImageClassifier, type Tensor } from '../../src/index.js';
import { pgdAttack, type AttackBatch, type AttackOutput, type PgdConfig } from '../../src/attacks/pgd.js';

/** Seconds for the whole set and success per input; `each` sees every batch's output inside the timed run. */
export function pgdInBatches(
  model: ImageClassifier,
  images: Tensor,
  batchSize: number,
  cfg: PgdConfig,
  each?: (out: AttackOutput, batch: AttackBatch) => void,
): { seconds: number; success: boolean[] } {
  const n = images.shape[0]!;
  const success: boolean[] = [];
  const t0 = performance.now();
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    scope(() => {
      const x = images.narrow(0, s, m);
      const b = { images: x, labels: noGrad(() => model.forward(x).logits.argmax(1)), indices: Array.from({ length: m }, (_, i) => s + i) };
      const out = pgdAttack(model, b, cfg);
      for (const r of out.records) success.push(r.success);
      each?.(out, b);
    });
  }
  return { seconds: (performance.now() - t0) / 1000, success };
}
