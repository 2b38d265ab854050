// One FAB step (fab_base.py's attack_single_run, the body of its loop), per row: linearise the
// classifier at the iterate (the logit differences to the label and their gradients, fab_pt.py's
// get_diff_logits_grads_batch and its targeted variant), take the closest linearised decision
// boundary, project both the iterate and the clean input onto it inside [0, 1]
// (fabProjections.ts), and move to a mix of the two projections, overshooting by eta and biased
// towards the clean input's by at most alpha_max.
import type { ImageClassifier } from '../models/classifier.js';
import { grad, enableGrad } from '../tensor/autograd.js';
import { rand, randn, zeros } from '../tensor/creation.js';
import { autocast, autocastDtype, hostSide, type Precision } from '../tensor/device.js';
import type { Generator } from '../tensor/random.js';
import { cat, stack, type Tensor } from '../tensor/tensor.js';
import { FAB_PROJECTIONS } from './fabProjections.js';
import { perRow } from './threat.js';

/** The norms FAB minimises (the reference's Linf, L2 and L1). */
export type FabNorm = keyof typeof FAB_PROJECTIONS;

export interface FabSettings {
  norm: FabNorm;
  eps: number;
  alphaMax: number;
  eta: number;
  beta: number;
  precision?: Precision;
}

/** Per-row p-norm of [n, D] rows. */
export function rowNorms(d: Tensor, norm: FabNorm): Tensor {
  if (norm === 'linf') return d.abs().amax(1);
  if (norm === 'l2') return d.square().sum(1).sqrt();
  return d.abs().sum(1);
}

/** The dual norm of gradient rows [n, K, D] -> [n, K]: distances to each linearised boundary. */
function dualNorms(g: Tensor, norm: FabNorm): Tensor {
  if (norm === 'linf') return g.abs().sum(2);
  if (norm === 'l2') return g.square().sum(2).sqrt();
  return g.abs().amax(2);
}

/** A forward whose graph is recorded: the logits [n, K] (float32) of the input xg, which wants its gradient. */
export interface RecordedForward {
  xg: Tensor;
  logits: Tensor;
}

/** The model's logits at x [n, C, H, W], the graph recorded whatever the caller's grad mode. */
export function recordForward(model: ImageClassifier, x: Tensor, precision?: Precision): RecordedForward {
  const xg = x.detach().requiresGrad_(true);
  const half = autocastDtype(precision ?? 'fp32');
  return { xg, logits: enableGrad(() => autocast(x.device, half, () => model.forward(xg).logits).float()) };
}

/**
 * The linearisation at a recorded forward's input, for its rows `rows` (int64 [m]; null: all):
 * df [m, K'] the logit differences (class k minus the label; targeted: the target minus the
 * label, K' = 1) and dg [m, K', C*H*W] their gradients. `label` and `target` are the picked
 * rows'. The other rows' output gradient is zero, so the convolution stack leaves them out of
 * its backward. Untargeted, the label's own column gets df = 1e10, so it is never the closest.
 */
export function linearise(f: RecordedForward, rows: Tensor | null, label: Tensor, target: Tensor | null): { df: Tensor; dg: Tensor } {
  const m = label.shape[0]!;
  const pick = (v: Tensor) => (rows ? v.indexSelect(0, rows) : v);
  const la = label.unsqueeze(1);
  const y = enableGrad(() => pick(f.logits));
  if (target) {
    const { diff, total } = enableGrad(() => {
      const d = y.gather(1, target.unsqueeze(1)).sub(y.gather(1, la));
      return { diff: d, total: d.sum() };
    });
    return { df: diff.detach(), dg: pick(grad(total, f.xg)[0]!).reshape([m, 1, -1]) };
  }
  const k = y.shape[1]!;
  // one backward per class, as the reference's grad_mask loop: row r's gradient of its logit k
  const gs: Tensor[] = [];
  for (let c = 0; c < k; c++) {
    const mask = zeros([m, k], { device: y.device });
    mask.select(1, c).fill_(1);
    gs.push(pick(grad(y, f.xg, { gradOutputs: [mask], retainGraph: c < k - 1 })[0]!).reshape([m, -1]));
  }
  const g = stack(gs, 1);
  const yd = y.detach();
  const df = yd.sub(yd.gather(1, la)).scatter(1, la, 1e10);
  const dg = g.sub(g.gather(1, la.unsqueeze(2).expand([m, 1, g.shape[2]!])));
  return { df, dg };
}

/** The linearisation at x [n, C, H, W] (linearise on a forward of its own). */
export function diffLogitsGrads(
  model: ImageClassifier,
  x: Tensor,
  label: Tensor,
  target: Tensor | null,
  precision?: Precision,
): { df: Tensor; dg: Tensor } {
  return linearise(recordForward(model, x, precision), null, label, target);
}

/**
 * The next iterate from x1 [n, C, H, W] (the current one) and x0 (the clean inputs), given the
 * linearisation there; in [0, 1].
 */
export function fabStep(x1: Tensor, x0: Tensor, df: Tensor, dg: Tensor, s: FabSettings): Tensor {
  const n = x1.shape[0]!;
  const dist = df.abs().div(dualNorms(dg, s.norm).add(1e-12));
  const ind = dist.minDim(1).indices;
  const dg2 = dg.gather(1, ind.view([n, 1, 1]).expand([n, 1, dg.shape[2]!])).squeeze(1);
  const flat = x1.reshape([n, -1]);
  const b = df.gather(1, ind.unsqueeze(1)).squeeze(1).neg().add(dg2.mul(flat).sum(1));
  const d3 = FAB_PROJECTIONS[s.norm](cat([flat, x0.reshape([n, -1])], 0), cat([dg2, dg2], 0), cat([b, b], 0));
  const d1 = d3.narrow(0, 0, n).reshape(x1.shape);
  const d2 = d3.narrow(0, n, n).reshape(x1.shape);
  const a0 = rowNorms(d3, s.norm).clamp(1e-8, null);
  const a1 = a0.narrow(0, 0, n);
  const a2 = a0.narrow(0, n, n);
  const alpha = perRow(a1.div(a1.add(a2)).clamp(0, null).clamp(null, s.alphaMax), x1);
  return x1
    .add(d1.mul(s.eta))
    .mul(alpha.neg().add(1))
    .add(x0.add(d2.mul(s.eta)).mul(alpha))
    .clamp(0, 1);
}

/**
 * A random restart's start, half way to the budget's sphere (the reference draws it with the
 * radius min(res2, eps) / 2 and res2 still 1e10): x0 + eps / 2 * t / ||t||, t U(-1, 1) per pixel
 * (Linf) or N(0, 1) (L2, L1), in [0, 1]. `noise`: the raw draw, U(0, 1) or N(0, 1), [n, C, H, W].
 */
export function fabStart(x0: Tensor, noise: Tensor, norm: FabNorm, eps: number): Tensor {
  const t = norm === 'linf' ? noise.mul(2).sub(1) : noise;
  const size = perRow(rowNorms(t.reshape([t.shape[0]!, -1]), norm), x0);
  return x0.add(t.mul(eps).div(size).mul(0.5)).clamp(0, 1);
}

/** The raw draws of fabStart, one per row from its own generator, on the host. */
export function fabNoise(shape: number[], norm: FabNorm, generators: Generator[], device: string): Tensor {
  const draw = norm === 'linf' ? rand : randn;
  const host = hostSide(() =>
    cat(
      generators.map((g) => draw([1, ...shape], { generator: g })),
      0,
    ),
  );
  return device === 'cpu' ? host : host.to(device);
}
