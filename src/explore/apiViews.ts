// The explorer's summaries of a model and an input, and its histograms: plain data for the API.
import type { Histogram, InputSummary, ModelInfo } from './apiTypes.js';
import type { Loaded, ModelData } from './modelView.js';

export function modelInfo(m: ModelData): ModelInfo {
  const metrics = (m.manifest.metrics ?? {}) as { testAccuracy?: number };
  return {
    id: m.id,
    arch: m.manifest.arch,
    dataset: typeof m.manifest.dataset === 'string' ? m.manifest.dataset : null,
    featureDim: m.manifest.featureDim,
    classNames: m.classNames,
    accuracy: typeof metrics.testAccuracy === 'number' ? metrics.testAccuracy : null,
    sensitivity: m.source.sensitivityDir ? 'folder' : 'computed',
    manifest: m.manifest,
    attacks: m.attacks.map(({ id, attack, family, norm, eps, successRate, count, version, robustAccuracy }) => ({
      id,
      attack,
      family,
      norm,
      eps,
      successRate,
      count,
      ...(family === 'autoattack' ? { version, robustAccuracy } : {}),
    })),
  };
}

export function summaryOf(m: ModelData, l: Loaded, j: number): InputSummary {
  const fooledBy = (kind: string) => {
    const folders = m.attacks.filter((a) => a.family === kind && a.attacked.has(j));
    return folders.length ? folders.some((a) => a.fooled.has(j)) : null;
  };
  const label = l.labels[j]!;
  const prediction = l.predictions[j]!;
  return {
    index: j,
    label,
    prediction,
    correct: label === prediction,
    fooledPgd: fooledBy('pgd'),
    fooledKns: fooledBy('kns'),
    fooledAutoAttack: fooledBy('autoattack'),
  };
}

/** 30 even bins over the finite values. */
export function histogram(values: Float32Array, bins = 30): Histogram {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  if (!(lo <= hi)) return { edges: [], counts: [] };
  if (lo === hi) return { edges: [lo, hi], counts: [values.filter(Number.isFinite).length] };
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) if (Number.isFinite(v)) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
  return { edges: Array.from({ length: bins + 1 }, (_, i) => lo + i * width), counts };
}
