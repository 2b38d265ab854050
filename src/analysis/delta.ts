// Delta(i, x): the smallest change of feature neuron i's output that flips the prediction,
// in closed form for all neurons and inputs at once (method.md section 2). Conventions are
// the reference implementation's: predicted class y = argmax of the logits; candidates
// delta_c = (l[y] - l[c]) / (W[c, i] - W[y, i]) for c != y; only candidates keeping the
// neuron non-negative (z_i + delta_c >= 0) count; the smallest |delta_c| wins (first class
// on ties); +inf when no finite candidate is valid. A zero denominator gives +-inf or NaN,
// which is never chosen.
import { arange } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';

/** Options of {@link delta}. */
export interface DeltaOptions {
  /** Inputs per chunk: bounds the [chunk, F, C] intermediates (default 1024). */
  chunk?: number;
}

function checkShapes(logits: Tensor, features: Tensor, weight: Tensor): [number, number, number] {
  const [n, c] = logits.shape as [number, number];
  const [c2, f] = weight.shape as [number, number];
  if (logits.ndim !== 2 || features.ndim !== 2 || weight.ndim !== 2)
    throw new Error('delta: logits [N, C], features [N, F] and weight [C, F] must be 2-d');
  if (c !== c2) throw new Error(`delta: logits have ${c} classes, the classifier weight ${c2}`);
  if (features.shape[0] !== n || features.shape[1] !== f) {
    throw new Error(`delta: features [${features.shape.join(', ')}] do not match ${n} inputs x ${f} features`);
  }
  if (c < 2) throw new Error('delta: a classifier needs at least 2 classes');
  return [n, c, f];
}

/** Delta for a chunk of inputs, laid out [N, F]. */
function deltaRows(logits: Tensor, features: Tensor, weight: Tensor): Tensor {
  return scope(() => {
    const c = logits.shape[1]!;
    const y = logits.argmax(1); // [N]
    const ly = logits.gather(1, y.unsqueeze(1)); // [N, 1]
    const num = ly.sub(logits).unsqueeze(1); // [N, 1, C]: l[y] - l[c]
    const wt = weight.t(); // [F, C]
    const wy = wt.index([null, y]).permute([1, 0]).unsqueeze(2); // [N, F, 1]: W[y, i]
    const den = wt.unsqueeze(0).sub(wy); // [N, F, C]: W[c, i] - W[y, i]
    const cand = num.div(den); // [N, F, C]
    // the predicted class itself is never a candidate
    const notY = arange(0, c, 1, { device: logits.device }).unsqueeze(0).ne(y.unsqueeze(1)).unsqueeze(1); // [N, 1, C]
    const valid = features.unsqueeze(2).add(cand).ge(0).logicalAnd(notY); // NaN and -inf fail the test
    const inf = Number.POSITIVE_INFINITY;
    const absValid = where(valid, cand.abs(), inf);
    const { values: best, indices } = absValid.minDim(2, true); // first minimum on ties
    const chosen = cand.gather(2, indices).squeeze(2);
    return where(best.squeeze(2).isinf(), inf, chosen);
  });
}

/**
 * Delta(i, x) for every feature neuron i and input x: float32 [F, N] (the reference's
 * layout: one row per neuron), +inf where no valid change flips the prediction.
 *
 * @example
 * ```ts
 * const d = scope(() => noGrad(() => {
 *   const { logits, features } = model.eval().forward(images); // images [N, C, H, W] in [0, 1]
 *   return delta(logits, features, model.classifier.weight);    // [F, N]
 * }));
 * ```
 */
export function delta(logits: Tensor, features: Tensor, weight: Tensor, opts: DeltaOptions = {}): Tensor {
  const [n] = checkShapes(logits, features, weight);
  const chunk = opts.chunk ?? 1024;
  return scope(() => {
    const parts: Tensor[] = [];
    for (let s = 0; s < n; s += chunk) {
      const len = Math.min(chunk, n - s);
      parts.push(deltaRows(logits.narrow(0, s, len), features.narrow(0, s, len), weight));
    }
    const rows = parts.length === 1 ? parts[0]! : cat(parts, 0);
    return rows.t().contiguous();
  });
}
