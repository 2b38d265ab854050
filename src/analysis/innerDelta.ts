// Delta(i, x) for neurons of an inner layer, found numerically: the smallest change added to
// one unit of the layer's output that flips the prediction, searched on both signs by
// bracketing (geometric steps) then bisection, for many (unit, input) rows in one batch.
// Units after a ReLU may not go below 0, as for the closed form.
import { withEval } from '../nn/module.js';
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { arange, tensor } from '../tensor/creation.js';
import { scope } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** Options of {@link innerDelta}: which units, and how precisely each change is searched for. */
export interface InnerDeltaOptions {
  /** Flat unit indices of the layer's output to examine (default: all). */
  units?: number[];
  /** Bisection steps after bracketing (default 40: relative precision ~1e-12 of the bracket). */
  bisection?: number;
  /** Largest change tried, relative to the layer's largest absolute output (default 1e6). */
  range?: number;
  /** (unit, input) rows evaluated per batch through the rest of the network. */
  rowsPerBatch?: number;
}

/** Predictions of the tail for activations a0[inputs] with `amount` added to unit `units`. */
function predictPerturbed(tail: (a: Tensor) => Tensor, a0: Tensor, inputs: number[], units: number[], amounts: Float64Array): Int32Array {
  return scope(() => {
    const rows = inputs.length;
    const on = { device: a0.device };
    const flat = a0
      .indexSelect(0, tensor(BigInt64Array.from(inputs, BigInt), on))
      .flatten(1)
      .clone();
    const add = tensor(Float32Array.from(amounts), on);
    flat.indexPut_([arange(0, rows, 1, on), tensor(BigInt64Array.from(units, BigInt), on)], add, true);
    const pred = tail(flat.view([rows, ...a0.shape.slice(1)]))
      .argmax(1)
      .toNumbers();
    return Int32Array.from(pred);
  });
}

/**
 * Delta for every chosen unit of `layer` and every input of `x`: float32 [units, inputs]
 * (the layout of the closed form's deltas.npy), +inf where no change within the range flips
 * the prediction.
 */
export function innerDelta(
  model: ImageClassifier,
  x: Tensor,
  layer: string,
  o: InnerDeltaOptions = {},
): { deltas: Float32Array; units: number[] } {
  const split = model.splitAt(layer);
  return withEval(model, () => {
    return noGrad(() =>
      scope(() => {
        const a0 = split.head(x).keep();
        try {
          const n = x.shape[0]!;
          const total = a0.numel() / n;
          const units = o.units ?? Array.from({ length: total }, (_, i) => i);
          for (const u of units)
            if (!Number.isInteger(u) || u < 0 || u >= total) throw new RangeError(`unit ${u} is outside 0..${total - 1} of layer ${layer}`);
          const pred0 = split.tail(a0).argmax(1).toNumbers();
          const aFlat = a0.flatten(1).toArray<'float32'>();
          const scale = Math.max(a0.abs().max().item(), 1e-6);
          const maxT = scale * (o.range ?? 1e6);
          const steps = o.bisection ?? 40;
          const perBatch = o.rowsPerBatch ?? 4096;
          const rowsAll: { u: number; b: number }[] = [];
          for (let k = 0; k < units.length; k++) for (let b = 0; b < n; b++) rowsAll.push({ u: units[k]!, b });
          const best = new Float64Array(rowsAll.length).fill(Infinity);
          for (const sign of [1, -1]) {
            // geometric bracket: t = scale * 2^e for e from -20 up to log2(range)
            const grid: number[] = [];
            for (let t = scale * 2 ** -20; t <= maxT; t *= 2) grid.push(t);
            for (let start = 0; start < rowsAll.length; start += perBatch) {
              const rows = rowsAll.slice(start, start + perBatch);
              const lo = new Float64Array(rows.length);
              const hi = new Float64Array(rows.length).fill(NaN);
              // cap: a unit after a ReLU cannot go below zero
              const cap = rows.map(({ u, b }) => (sign < 0 && split.nonNegative ? aFlat[b * total + u]! : Infinity));
              for (const t of grid) {
                const open = rows.map((_, i) => i).filter((i) => Number.isNaN(hi[i]!) && t <= cap[i]! * (1 + 1e-12));
                if (!open.length) break;
                const p = predictPerturbed(
                  split.tail,
                  a0,
                  open.map((i) => rows[i]!.b),
                  open.map((i) => rows[i]!.u),
                  Float64Array.from(open, () => sign * t),
                );
                open.forEach((i, k) => {
                  if (p[k] !== pred0[rows[i]!.b]) hi[i] = t;
                  else lo[i] = t;
                });
              }
              // the cap itself (exactly zero output) may be where the prediction flips
              const capped = rows.map((_, i) => i).filter((i) => Number.isNaN(hi[i]!) && Number.isFinite(cap[i]!) && cap[i]! > 0);
              if (capped.length) {
                const p = predictPerturbed(
                  split.tail,
                  a0,
                  capped.map((i) => rows[i]!.b),
                  capped.map((i) => rows[i]!.u),
                  Float64Array.from(capped, (i) => -cap[i]!),
                );
                capped.forEach((i, k) => {
                  if (p[k] !== pred0[rows[i]!.b]) hi[i] = cap[i]!;
                });
              }
              const active = rows.map((_, i) => i).filter((i) => !Number.isNaN(hi[i]!));
              for (let s = 0; s < steps && active.length; s++) {
                const mid = Float64Array.from(active, (i) => (lo[i]! + hi[i]!) / 2);
                const p = predictPerturbed(
                  split.tail,
                  a0,
                  active.map((i) => rows[i]!.b),
                  active.map((i) => rows[i]!.u),
                  Float64Array.from(mid, (m) => sign * m),
                );
                active.forEach((i, k) => {
                  if (p[k] !== pred0[rows[i]!.b]) hi[i] = mid[k]!;
                  else lo[i] = mid[k]!;
                });
              }
              for (const i of active) {
                const v = sign * hi[i]!;
                if (Math.abs(v) < Math.abs(best[start + i]!)) best[start + i] = v;
              }
            }
          }
          // [units, inputs] like the closed form's file
          const deltas = new Float32Array(units.length * n);
          rowsAll.forEach((_, r) => {
            deltas[r] = best[r]!;
          });
          return { deltas, units };
        } finally {
          a0.dispose();
        }
      }),
    );
  });
}
