// One model's data for the pages: its inputs (the data set it was analysed on), logits,
// features and Deltas, read from its sensitivity folder or, without one, computed once over
// the first `limit` test inputs. Everything is held as flat arrays: pages of the input grid,
// an input's ranking and a neuron's distributions are then slices, not model runs.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, readManifest, type ModelManifest } from '../models/runFolder.js';
import type { ImageClassifier } from '../models/classifier.js';
import { openDataset } from '../data/registry.js';
import type { ImageDataset, Split } from '../data/dataset.js';
import { loadNpy } from '../serialization/npy.js';
import { scope } from '../tensor/scope.js';
import { noGrad } from '../tensor/autograd.js';
import { tensor } from '../tensor/creation.js';
import { withEval } from '../nn/module.js';
import { delta } from '../analysis/delta.js';
import { rankNeurons, scaleDeltas } from '../analysis/scaled.js';
import { FeatureStatsAccumulator } from '../analysis/featureStats.js';
import { readFeatureStats, readSensitivitySummary, type SensitivitySummary } from '../analysis/sensitivityFiles.js';
import type { ModelSource } from './catalog.js';
import type { AttackFolderInfo, AutoAttackOutcome } from './apiTypes.js';
import { isAutoAttackSamples, readAutoAttackSamples } from '../reproduce/autoAttackFiles.js';

export interface DataOptions {
  /** Inputs analysed when the model has no sensitivity folder (default 1,000). */
  limit?: number;
  /** Data folder for data sets that are not embedded, when the run folder does not record one. */
  data?: string;
}

export interface AttackFolder extends AttackFolderInfo {
  dir: string;
  /** Data-set positions the attack fooled (any attacked neuron, for k-NS; any attack of the cascade, for AutoAttack). */
  fooled: Set<number>;
  attacked: Set<number>;
  /** AutoAttack folders: per data-set position, the attack that fooled it first (null: none did, or misclassified clean). */
  fooledBy: Map<number, { stage: string | null; label: number; cleanPrediction: number }> | null;
}

export interface Loaded {
  model: ImageClassifier;
  dataset: ImageDataset;
  split: Split;
  count: number;
  featureDim: number;
  classes: number;
  labels: Int32Array;
  predictions: Int32Array;
  /** [count, classes] */
  logits: Float32Array;
  /** [count, featureDim] */
  features: Float32Array;
  /** [featureDim, count], the sensitivity folder's layout (+inf: no change of that neuron alone flips the prediction). */
  deltas: Float32Array;
  featureMean: Float32Array;
  featureStd: Float32Array;
  summary: SensitivitySummary | null;
  /** Per neuron: inputs for which it is among the top-k most sensitive. */
  topKCounts: Int32Array;
  topK: number;
}

const BATCH = 256;

function toInt32(values: number[]): Int32Array {
  return Int32Array.from(values);
}

export class ModelData {
  readonly manifest: ModelManifest;
  readonly attacks: AttackFolder[];
  #loading: Promise<Loaded> | null = null;

  constructor(
    readonly source: ModelSource,
    readonly options: DataOptions = {},
  ) {
    this.manifest = readManifest(source.dir);
    this.attacks = source.attackDirs.map((d, k) => readAttackFolder(d, `${k}`));
  }

  get id(): string {
    return this.source.id;
  }

  get classNames(): string[] {
    const n = this.manifest.classNames;
    return Array.isArray(n) ? n.map(String) : Array.from({ length: this.manifest.numClasses }, (_, i) => String(i));
  }

  /** Where the data set lives: the run's own record, else the explorer's --data. */
  datasetSpec(): { name: string; data?: string; imageSize?: number } {
    const training = (this.manifest.training ?? {}) as { data?: string; imageSize?: number };
    const name = typeof this.manifest.dataset === 'string' ? this.manifest.dataset : '';
    if (!name) throw new Error(`${this.source.dir}: model.json names no data set`);
    return { name, data: training.data ?? this.options.data, imageSize: training.imageSize };
  }

  load(): Promise<Loaded> {
    this.#loading ??= this.#load();
    // a failed load (a data set that is missing) is retried on the next request
    this.#loading.catch(() => (this.#loading = null));
    return this.#loading;
  }

  async #load(): Promise<Loaded> {
    const spec = this.datasetSpec();
    const sens = this.source.sensitivityDir;
    const summary = sens ? readSensitivitySummary(sens) : null;
    const split = (summary?.split === 'train' ? 'train' : 'test') as Split;
    const count = summary ? summary.count : (this.options.limit ?? 1000);
    const dataset = await openDataset(spec.name, split, { data: spec.data, imageSize: spec.imageSize, limit: count });
    const { model } = loadModel(this.source.dir);
    try {
      const arrays = sens && summary ? readSensitivityArrays(sens, summary) : await computeArrays(model, dataset);
      const n = arrays.labels.length;
      const topK = summary?.topK ?? Math.min(16, model.featureDim);
      const topKCounts = summary
        ? Int32Array.from({ length: model.featureDim }, (_, i) => summary.neurons[i]?.topKCount ?? 0)
        : countTopK(arrays.deltas, n, model.featureDim, arrays.featureMean, arrays.featureStd, topK);
      return {
        model,
        dataset,
        split,
        count: n,
        featureDim: model.featureDim,
        classes: model.numClasses,
        summary,
        topKCounts,
        topK,
        ...arrays,
      };
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  dispose(): void {
    this.#loading?.then(
      (l) => l.model.dispose(),
      () => {},
    );
    this.#loading = null;
  }
}

type Arrays = Pick<Loaded, 'labels' | 'predictions' | 'logits' | 'features' | 'deltas' | 'featureMean' | 'featureStd'>;

function readSensitivityArrays(dir: string, summary: SensitivitySummary): Arrays {
  const stats = readFeatureStats(dir);
  return scope(() => {
    const get = (f: string) => loadNpy(join(dir, f));
    const a: Arrays = {
      labels: toInt32(get('labels.npy').toNumbers()),
      predictions: toInt32(get('predictions.npy').toNumbers()),
      logits: get('logits.npy').toFloat32Array(),
      features: get('features.npy').toFloat32Array(),
      deltas: get('deltas.npy').toFloat32Array(),
      featureMean: stats.mean,
      featureStd: stats.std,
    };
    if (a.labels.length !== summary.count)
      throw new Error(`${dir}: labels.npy has ${a.labels.length} entries, summary.json says ${summary.count}`);
    return a;
  });
}

/** Logits, features and Deltas of every input, batch by batch (the event loop runs between batches). */
async function computeArrays(model: ImageClassifier, ds: ImageDataset): Promise<Arrays> {
  const n = ds.length;
  const f = model.featureDim;
  const c = model.numClasses;
  const logits = new Float32Array(n * c);
  const features = new Float32Array(n * f);
  const deltas = new Float32Array(f * n);
  const labels = new Int32Array(n);
  const predictions = new Int32Array(n);
  const acc = new FeatureStatsAccumulator(f);
  for (let start = 0; start < n; start += BATCH) {
    const idx = Array.from({ length: Math.min(BATCH, n - start) }, (_, i) => start + i);
    const batch = await ds.load(idx);
    scope(() => {
      const out = withEval(model, () => noGrad(() => model.forward(batch.images)));
      const d = delta(out.logits, out.features, model.classifier.weight).toFloat32Array(); // [F, B]
      const b = idx.length;
      logits.set(out.logits.toFloat32Array(), start * c);
      const z = out.features.toFloat32Array();
      features.set(z, start * f);
      acc.add(z, b);
      for (let i = 0; i < f; i++) deltas.set(d.subarray(i * b, (i + 1) * b), i * n + start);
      labels.set(batch.labels.toNumbers(), start);
      predictions.set(out.logits.argmax(1).toNumbers(), start);
      batch.images.dispose();
      batch.labels.dispose();
    });
    await new Promise((r) => setImmediate(r));
  }
  const stats = acc.result();
  return {
    labels,
    predictions,
    logits,
    features,
    deltas,
    featureMean: Float32Array.from(stats.mean),
    featureStd: Float32Array.from(stats.std),
  };
}

/** The row of Deltas of input j, [1, F] scaled and ranked as k-NS ranks them. */
export function inputRanking(l: Loaded, j: number): { deltas: Float32Array; scaled: Float32Array; ranking: number[] } {
  const d = new Float32Array(l.featureDim);
  for (let i = 0; i < l.featureDim; i++) d[i] = l.deltas[i * l.count + j]!;
  return scope(() => {
    // eps 0, as the attack ranks (the reference's choice)
    const s = scaleDeltas(tensor(d, { shape: [1, l.featureDim] }), l.featureMean, l.featureStd, 0);
    return { deltas: d, scaled: s.toFloat32Array(), ranking: rankNeurons(s).toNumbers() };
  });
}

/** Input j in each AutoAttack folder of the model that attacked it: the attack that fooled it first, or why none did. */
export function autoAttackOutcomes(m: ModelData, j: number): AutoAttackOutcome[] {
  return m.attacks.flatMap((a) => {
    const x = a.fooledBy?.get(j);
    if (!x) return [];
    const outcome = x.stage !== null ? 'fooled' : x.cleanPrediction === x.label ? 'robust' : 'misclassified';
    return [{ folder: a.id, attack: a.attack, version: a.version ?? '', norm: a.norm, eps: a.eps, fooledBy: x.stage, outcome }];
  });
}

function countTopK(deltas: Float32Array, n: number, f: number, mean: Float32Array, std: Float32Array, k: number): Int32Array {
  const counts = new Int32Array(f);
  for (let start = 0; start < n; start += BATCH) {
    const b = Math.min(BATCH, n - start);
    const rows = new Float32Array(b * f);
    for (let i = 0; i < f; i++) for (let j = 0; j < b; j++) rows[j * f + i] = deltas[i * n + start + j]!;
    const ranks = scope(() =>
      rankNeurons(scaleDeltas(tensor(rows, { shape: [b, f] }), mean, std, 0))
        .slice(1, 0, k)
        .contiguous()
        .toNumbers(),
    );
    for (const i of ranks) counts[i]!++;
  }
  return counts;
}

function readAttackFolder(dir: string, id: string): AttackFolder {
  const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Record<string, unknown>;
  const spec = (r.attack ?? {}) as Record<string, unknown>;
  const fooled = new Set<number>();
  const attacked = new Set<number>();
  const csv = join(dir, 'samples.csv');
  const base = { id, dir, attack: String(spec.attack ?? 'unknown'), norm: String(spec.norm ?? ''), eps: Number(spec.eps ?? NaN) };
  if (existsSync(csv) && isAutoAttackSamples(readFileSync(csv, 'utf8').split('\n', 1)[0]!)) {
    const fooledBy = new Map(
      readAutoAttackSamples(dir).map((x) => [x.index, { stage: x.fooledBy, label: x.label, cleanPrediction: x.cleanPrediction }]),
    );
    for (const [i, x] of fooledBy) {
      attacked.add(i);
      if (x.stage !== null) fooled.add(i);
    }
    const robust = Number(r.robustAccuracy ?? NaN);
    return {
      ...base,
      fooled,
      attacked,
      fooledBy,
      family: 'autoattack',
      version: String(spec.version ?? ''),
      robustAccuracy: robust,
      successRate: attacked.size ? fooled.size / attacked.size : NaN,
      count: Number(r.count ?? attacked.size),
    };
  }
  if (existsSync(csv)) {
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    const head = lines[0]!.split(',');
    const iIndex = head.indexOf('index');
    const iSuccess = head.indexOf('success');
    for (const line of lines.slice(1)) {
      const cells = line.split(',');
      const index = Number(cells[iIndex]);
      attacked.add(index);
      if (cells[iSuccess] === '1') fooled.add(index);
    }
  }
  return {
    ...base,
    fooled,
    attacked,
    fooledBy: null,
    family: base.attack,
    successRate: Number(r.successRate ?? NaN),
    count: Number(r.count ?? attacked.size),
  };
}
