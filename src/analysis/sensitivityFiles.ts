// A sensitivity folder's small files, written and read in one place: summary.json (the
// sensitivity summary, the same fields whoever writes it) and the feature statistics
// (feature_mean.npy, feature_std.npy) k-NS scales Delta with.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile } from '../serialization/schema.js';
import { verifyOutputFile } from '../serialization/outputDir.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { loadNpy, saveNpyArray } from '../serialization/npy.js';
import { scope } from '../tensor/scope.js';
import type { NeuronSummary } from './neuronSummaries.js';
import type { SensitivityResult } from './sensitivity.js';

export const SUMMARY_FILE = 'summary.json';
export const FEATURE_MEAN_FILE = 'feature_mean.npy';
export const FEATURE_STD_FILE = 'feature_std.npy';

/** What summary.json holds: the result's figures and, where known, how it was made. */
export interface SensitivitySummary {
  count: number;
  featureDim: number;
  classes: number;
  accuracy: number;
  deadFeatures: number;
  /** Neuron indices, most sensitive first (ascending |mean scaled Delta|). */
  mostSensitive: number[];
  neurons: NeuronSummary[];
  /** Inputs the feature statistics were computed over. */
  statsCount: number;
  model?: string;
  dataset?: string;
  split?: string;
  statsSplit?: string;
  eps?: number;
  topK?: number;
  compare?: { model: string; accuracy: number; deadFeatures: number }[];
  files?: string[];
}

export type SummaryContext = Omit<
  SensitivitySummary,
  'count' | 'featureDim' | 'classes' | 'accuracy' | 'deadFeatures' | 'mostSensitive' | 'neurons' | 'statsCount'
>;

export function writeSensitivitySummary(dir: string, r: SensitivityResult, context: SummaryContext = {}): SensitivitySummary {
  const { model, dataset, split, statsSplit, eps, topK, compare, files } = context;
  const summary: SensitivitySummary = {
    model,
    dataset,
    split,
    count: r.count,
    featureDim: r.featureDim,
    classes: r.classes,
    accuracy: r.accuracy,
    statsSplit,
    statsCount: r.stats.count,
    eps,
    topK,
    deadFeatures: r.deadFeatures,
    mostSensitive: r.mostSensitive,
    neurons: r.neurons,
    compare,
    files,
  };
  writeFileAtomic(join(dir, SUMMARY_FILE), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

const count = z.int({ error: 'expected a non-negative integer' }).nonnegative({ error: 'expected a non-negative integer' });
/** The fields readers use; the rest are as written. */
const SummarySchema = z.looseObject({
  count,
  featureDim: count,
  classes: count,
  accuracy: z.number(),
  deadFeatures: count,
  statsCount: count,
  mostSensitive: z.array(count),
  neurons: z.array(z.looseObject({})),
});

/** Reads a sensitivity folder's summary.json (checked against its manifest and schema). */
export function readSensitivitySummary(dir: string): SensitivitySummary {
  const p = join(dir, SUMMARY_FILE);
  if (!existsSync(p)) throw new Error(`${dir} has no ${SUMMARY_FILE} (run sauron sensitivity first)`);
  verifyOutputFile(dir, SUMMARY_FILE, true);
  try {
    return readJsonFile(p, SummarySchema) as unknown as SensitivitySummary;
  } catch (e) {
    throw new Error(`${p} is damaged (${(e as Error).message.replace(`${p}: `, '')}); run sauron sensitivity again`);
  }
}

export function hasFeatureStats(dir: string): boolean {
  return existsSync(join(dir, FEATURE_MEAN_FILE)) && existsSync(join(dir, FEATURE_STD_FILE));
}

/** Reads a sensitivity folder's per-neuron feature mean and std ([F] each, float32). */
export function readFeatureStats(dir: string): { mean: Float32Array; std: Float32Array } {
  if (!hasFeatureStats(dir)) throw new Error(`${dir} has no ${FEATURE_MEAN_FILE} / ${FEATURE_STD_FILE} (run sauron sensitivity first)`);
  for (const f of [FEATURE_MEAN_FILE, FEATURE_STD_FILE]) verifyOutputFile(dir, f, true);
  return scope(() => ({
    mean: loadNpy(join(dir, FEATURE_MEAN_FILE)).toFloat32Array(),
    std: loadNpy(join(dir, FEATURE_STD_FILE)).toFloat32Array(),
  }));
}

export function writeFeatureStats(dir: string, mean: ArrayLike<number>, std: ArrayLike<number>): void {
  saveNpyArray(join(dir, FEATURE_MEAN_FILE), Float32Array.from(mean), [mean.length], 'float32');
  saveNpyArray(join(dir, FEATURE_STD_FILE), Float32Array.from(std), [std.length], 'float32');
}
