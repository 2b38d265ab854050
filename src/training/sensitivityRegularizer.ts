// The sensitivity regularizer of method.md section 5, as the reference implementation
// computes it (not the paper's eq. 5): loss += delta1 * T1 + delta2 * T2.
// One deliberate difference: an input whose features sum to 0 makes the reference divide
// 0 by 0 (NaN); here its T2 contribution is 0 (its numerators are all 0 too, so dividing by
// 1 instead gives exact zeros, and zero gradients).
import { noGrad } from '../tensor/autograd.js';
import { tensor } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';
import { cat, where, type Tensor } from '../tensor/tensor.js';

/**
 * The regularizer's settings: the top-k of each class pair's weight differences, and the weights of T1 and T2.
 */
export interface RegularizerOptions {
  topK: number;
  delta1: number;
  delta2: number;
}
/** The regularizer's terms, each a scalar tensor. */
export interface RegularizerTerms {
  t1: Tensor;
  t2: Tensor /** delta1 * t1 + delta2 * t2 */;
  total: Tensor;
}

// Pairs per block when scoring all class pairs: bounds the [pairs, F] intermediate to about
// 16M elements (ImageNet's 1000 classes have 499,500 pairs).
const PAIR_BLOCK_ELEMENTS = 1 << 24;

function checkWeight(weight: Tensor, topK: number, who: string): [number, number] {
  if (weight.ndim !== 2) throw new Error(`${who}: the classifier weight must be 2-d [classes, features], got [${weight.shape.join(', ')}]`);
  const [c, f] = weight.shape as [number, number];
  if (c < 2) throw new Error(`${who}: needs at least 2 classes, the weight has ${c}`);
  if (!Number.isInteger(topK) || topK < 1 || topK > f)
    throw new Error(`${who}: topK must be an integer in [1, ${f}] (the feature count), got ${topK}`);
  return [c, f];
}

/** Mean of the top-k of |W[a] - W[b]| for each pair: [P]. */
function pairScores(weight: Tensor, a: Tensor, b: Tensor, topK: number): Tensor {
  return weight.indexSelect(0, a).sub(weight.indexSelect(0, b)).abs().topk(topK, 1).values.mean(1);
}

/** T1 from the classifier weight [C, F] alone. */
export function sensitivityT1(weight: Tensor, topK: number): Tensor {
  const [c, f] = checkWeight(weight, topK, 'sensitivityT1');
  return scope(() => {
    const p = (c * (c - 1)) / 2;
    const ia = new BigInt64Array(p);
    const ib = new BigInt64Array(p);
    for (let i = 0, x = 0; i < c; i++) {
      for (let j = i + 1; j < c; j++, x++) {
        ia[x] = BigInt(i);
        ib[x] = BigInt(j);
      }
    }
    const a = tensor(ia, { device: weight.device });
    const b = tensor(ib, { device: weight.device });
    // Only the maximising pair receives gradient, so all pairs are scored without autograd
    // (in blocks) and the winner is recomputed with it: same value and gradient as a max
    // over all pairs, without keeping [pairs, F] tensors for backward. argmax takes the
    // first maximum, as the reference's max() over pairs in combinations order does.
    const block = Math.max(1, Math.floor(PAIR_BLOCK_ELEMENTS / f));
    const best = noGrad(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < p; s += block) {
        const n = Math.min(block, p - s);
        parts.push(pairScores(weight, a.narrow(0, s, n), b.narrow(0, s, n), topK));
      }
      return (parts.length === 1 ? parts[0]! : cat(parts, 0)).argmax(0, true);
    });
    return pairScores(weight, a.index([best]), b.index([best]), topK).squeeze(0);
  });
}

/** T2 from penultimate features [N, F] (>= 0), weight [C, F] and int64 dataset labels [N]. */
export function sensitivityT2(features: Tensor, weight: Tensor, labels: Tensor, topK: number): Tensor {
  const [c, f] = checkWeight(weight, topK, 'sensitivityT2');
  if (features.ndim !== 2 || features.shape[1] !== f) {
    throw new Error(`sensitivityT2: features must be [N, ${f}] to match the weight, got [${features.shape.join(', ')}]`);
  }
  const n = features.shape[0]!;
  if (n < 1) throw new Error('sensitivityT2: needs at least one input');
  if (labels.ndim !== 1 || labels.shape[0] !== n) {
    throw new Error(`sensitivityT2: labels must be [${n}] to match the features, got [${labels.shape.join(', ')}]`);
  }
  if (labels.dtype !== 'int64') throw new Error(`sensitivityT2: labels must be int64, got ${labels.dtype}`);
  return scope(() => {
    const lo = labels.min().item();
    const hi = labels.max().item();
    if (lo < 0 || hi >= c) throw new Error(`sensitivityT2: labels must be in [0, ${c - 1}], got values in [${lo}, ${hi}]`);
    const sum = features.sum(1, true); // [N, 1]
    const zhat = features.div(where(sum.eq(0), 1, sum)).unsqueeze(1); // [N, 1, F]
    const diff = weight.indexSelect(0, labels).unsqueeze(1).sub(weight.unsqueeze(0)); // [N, C, F]: W[y_n] - W[c]
    // classes weigh equally for every input, so the mean over [N, C] is mean-of-means
    return zhat.mul(diff).abs().topk(topK, 2).values.mean(2).mean();
  });
}

/**
 * The sensitivity regularizer's terms for a batch (method.md section 5): T1 from the classifier weight
 * [C, F] alone, T2 from the features [N, F] (>= 0) and int64 labels [N]; training adds
 * `total` = delta1 * T1 + delta2 * T2 to the cross-entropy.
 *
 * @example
 * ```ts
 * const { logits, features } = model.forward(images);
 * const reg = sensitivityRegularizer(features, model.classifier.weight, labels, { topK: 5, delta1: 1, delta2: 1 });
 * F.crossEntropy(logits, labels).add(reg.total).backward();
 * ```
 */
export function sensitivityRegularizer(features: Tensor, weight: Tensor, labels: Tensor, o: RegularizerOptions): RegularizerTerms {
  return scope(() => {
    const t1 = sensitivityT1(weight, o.topK);
    const t2 = sensitivityT2(features, weight, labels, o.topK);
    return { t1, t2, total: t1.mul(o.delta1).add(t2.mul(o.delta2)) };
  });
}
