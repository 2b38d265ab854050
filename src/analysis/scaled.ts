// Scaled sensitivities and per-input rankings (method.md section 2):
// scaled = (Delta - mu_i) / (sigma_i + eps), ranked ascending ("easiest" first).
import { tensor } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** Scaled values of a [B, F] block of deltas (inf stays inf; NaN where sigma + eps is 0). */
export function scaleDeltas(deltaRows: Tensor, mean: ArrayLike<number>, std: ArrayLike<number>, eps: number): Tensor {
  return scope(() => {
    const f = deltaRows.shape[1]!;
    if (mean.length !== f || std.length !== f) throw new Error(`scaling: ${f} features but ${mean.length} means and ${std.length} stds`);
    const on = { shape: [1, f], device: deltaRows.device };
    const mu = tensor(Float32Array.from(mean), on);
    const sd = tensor(Float32Array.from(std), on).add(eps);
    return deltaRows.sub(mu).div(sd);
  });
}

/**
 * Per-input ranking of neurons by ascending scaled sensitivity: [B, F] int64, row b lists
 * neuron indices, most sensitive first. Stable (ties keep index order); NaN ranks last,
 * after +inf, as numpy's argsort does.
 */
export function rankNeurons(scaledRows: Tensor): Tensor {
  return scaledRows.argsort(1);
}
