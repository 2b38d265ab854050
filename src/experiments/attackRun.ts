// Running an attack over a data set, batch by batch, with resumable progress and the result
// files of `sauron attack`: results.json, samples.csv, examples (.npy) and the per-rank curve.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SubsetDataset, type ImageDataset } from '../data/dataset.js';
import { batches, batchCount } from '../data/loader.js';
import type { ImageClassifier } from '../models/classifier.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { withOutputLock } from '../serialization/outputDir.js';
import { loadNpy, saveNpy, saveNpyArray } from '../serialization/npy.js';
import { noGrad } from '../tensor/autograd.js';
import { scope } from '../tensor/scope.js';
import { cat, type Tensor } from '../tensor/tensor.js';
import { full, zeros } from '../tensor/creation.js';
import type { Batch } from '../data/dataset.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { allGatherJson, allGatherRows, awaitAnnouncement, broadcastJson, leadAnnouncing } from '../tensor/collectives.js';
import { lineFigure, saveFigure } from '../reports/figures.js';
import type { Progress } from '../progress.js';
import { knsAttack, nNeuronRates, type KnsConfig } from '../attacks/kns.js';
import { pgdAttack, type PgdConfig } from '../attacks/pgd.js';
import type { NeuronRecord, SampleRecord } from '../attacks/types.js';

export type AttackSpec = ({ attack: 'pgd' } & PgdConfig) | ({ attack: 'kns'; neurons: number[] } & KnsConfig);

export interface AttackRunOptions {
  model: ImageClassifier;
  dataset: ImageDataset;
  spec: AttackSpec;
  out: string;
  batchSize: number;
  saveExamples?: boolean;
  /** Also evaluate the adversarial examples on this model (transfer). */
  targetModel?: ImageClassifier;
  resume?: boolean;
  /** Targeted PGD: every input is pushed towards this class. */
  targetClass?: number;
  /** Recorded in results.json. */
  meta?: Record<string, unknown>;
  /** Draw k-NS's success-by-rank figure (default true; `reproduce` draws its own). */
  figures?: boolean;
  onProgress?: (p: Progress) => void;
  /**
   * Split the batches across the process group's ranks; rank 0 gathers every batch's records
   * (and examples) in data-set order and alone writes the folder, exactly as one process does.
   */
  acrossRanks?: boolean;
}

/** Single-neuron attacks (rows) of one kind: how many, how many fooled the model, how many reached Delta. */
export interface TargetCount {
  rows: number;
  successRate: number | null;
  deltaAchieveRate: number | null;
}

/** Rows split by whether the target neuron was active (z_i(x) > 0) on the clean input. */
export interface TargetSplit {
  active: TargetCount;
  inactive: TargetCount;
}

export interface RankRate extends TargetSplit {
  rank: number;
  successRate: number;
  /** Rows whose attacked neuron reached z_i + Delta. */
  deltaAchieveRate: number;
}

/**
 * results.json: the run's `meta` fields first (model, data set, ...), then these. Success
 * rates count an input once when any of its rows (restarts, neurons) fooled the model.
 */
export type AttackResults = Record<string, unknown> & {
  attack: Record<string, unknown>;
  count: number;
  cleanAccuracy: number;
  seconds: number;
  successRate: number;
  /** Over inputs the model classified correctly. */
  successRateCorrect: number;
  /** Inputs classified correctly before and after the attack (RobustBench's robust accuracy). */
  robustAccuracy: number;
  /** k-NS from rank 1: success within the n most sensitive neurons, for each n. */
  nNeuronSuccessRate?: Record<string, number>;
  nNeuronSuccessRateCorrect?: Record<string, number>;
  /** For each n: inputs classified correctly and fooled through none of their n most sensitive neurons. */
  nNeuronRobustAccuracy?: Record<string, number>;
  perRank?: RankRate[];
  deltaAchieveRate?: number;
  /** Every attacked (input, neuron) row, split by whether the target was active. */
  targets?: TargetSplit;
  transfer?: { targetCleanAccuracy: number; successRateCorrect: number };
};

/** A finished attack folder's results.json. */
export function readAttackResults(dir: string): AttackResults {
  const p = join(dir, 'results.json');
  if (!existsSync(p)) throw new Error(`${dir} has no results.json (the attack has not finished)`);
  return JSON.parse(readFileSync(p, 'utf8')) as AttackResults;
}

type AnyRecord = (SampleRecord | NeuronRecord) & { targetCleanPrediction?: number; targetAdversarialPrediction?: number; targetSuccess?: boolean };

const PROGRESS = 'progress.jsonl';
const STATE = 'attack-config.json';
const PARTIAL = 'partial';

function prepare(o: AttackRunOptions, fingerprint: string): { done: Map<number, AnyRecord[]>; seconds: number } {
  mkdirSync(o.out, { recursive: true });
  const statePath = join(o.out, STATE);
  if (o.resume && existsSync(statePath)) {
    if (readFileSync(statePath, 'utf8') !== fingerprint) {
      throw new Error(`${o.out} holds an attack with other settings: resume it with the same options, or use another --out`);
    }
    const done = new Map<number, AnyRecord[]>();
    let seconds = 0;
    if (existsSync(join(o.out, PROGRESS))) {
      for (const line of readFileSync(join(o.out, PROGRESS), 'utf8').split('\n')) {
        if (!line.trim()) continue;
        let entry: { batch: number; seconds: number; records: AnyRecord[] };
        try {
          entry = JSON.parse(line);
        } catch {
          continue; // a line cut by a kill: that batch is redone
        }
        if (o.saveExamples && !existsSync(join(o.out, PARTIAL, `adv-${entry.batch}.npy`))) continue;
        if (!done.has(entry.batch)) seconds += entry.seconds;
        done.set(entry.batch, entry.records);
      }
    }
    return { done, seconds };
  }
  if (existsSync(join(o.out, PROGRESS)) || existsSync(join(o.out, 'results.json'))) {
    if (!o.resume) throw new Error(`${o.out} holds another attack's results: pass --resume to continue it or choose another --out`);
  }
  for (const f of [PROGRESS, 'results.json', 'samples.csv']) rmSync(join(o.out, f), { force: true });
  rmSync(join(o.out, PARTIAL), { recursive: true, force: true });
  writeFileAtomic(statePath, fingerprint);
  return { done: new Map(), seconds: 0 };
}

/**
 * Runs (or resumes) an attack into `o.out`, holding the folder's lock. Across ranks, every
 * rank calls it with the same options; rank 0 returns the results, and so do the others.
 */
export async function runAttack(o: AttackRunOptions): Promise<AttackResults> {
  const parallel = !!o.acrossRanks && getWorldSize() > 1;
  if (parallel && getRank() !== 0) {
    await attackRounds(o, awaitAnnouncement<number[]>('the attack'), null);
    return broadcastJson<AttackResults>(null);
  }
  const locked = (announce: (pending: number[]) => void) =>
    withOutputLock(o.out, `attack ${o.spec.attack} ${o.spec.norm} eps ${o.spec.eps}`, () => runAttackLocked(o, parallel, announce));
  return parallel ? leadAnnouncing(locked) : locked(() => {});
}

interface BatchResult {
  batch: number;
  seconds: number;
  records: AnyRecord[];
  clean?: Tensor;
  adversarial?: Tensor;
}

async function runAttackLocked(o: AttackRunOptions, parallel: boolean, announce: (pending: number[]) => void): Promise<AttackResults> {
  const fingerprint = JSON.stringify({ spec: { ...o.spec, featureMean: undefined, featureStd: undefined }, targetClass: o.targetClass, batchSize: o.batchSize,
    count: o.dataset.length, saveExamples: !!o.saveExamples, meta: o.meta }, null, 2) + '\n';
  const { done, seconds: previous } = prepare(o, fingerprint);
  if (o.saveExamples) mkdirSync(join(o.out, PARTIAL), { recursive: true });
  const total = batchCount(o.dataset, o.batchSize);
  const pending = Array.from({ length: total }, (_, b) => b).filter((b) => !done.has(b));
  announce(pending);
  let seconds = previous;
  await attackRounds(o, pending, (r) => {
    if (o.saveExamples) {
      saveNpy(join(o.out, PARTIAL, `clean-${r.batch}.npy`), r.clean!);
      saveNpy(join(o.out, PARTIAL, `adv-${r.batch}.npy`), r.adversarial!);
    }
    seconds += r.seconds;
    appendFileSync(join(o.out, PROGRESS), JSON.stringify({ batch: r.batch, seconds: r.seconds, records: r.records }) + '\n');
    done.set(r.batch, r.records);
    const records = [...done.values()].flat();
    const inputs = new Set(records.map((x) => x.index)).size;
    const hit = new Set(records.filter((x) => x.success).map((x) => x.index)).size;
    o.onProgress?.({ done: done.size, total, stats: { 'success rate': inputs ? hit / inputs : 0 } });
  });
  // batch order = data-set order, ranks minor: the row order of the example files
  const records = [...done.entries()].sort(([a], [b]) => a - b).flatMap(([, r]) => r);
  const results = summarize(o, records, seconds);
  writeFileAtomic(join(o.out, 'samples.csv'), toCsv(records));
  if (o.saveExamples) mergeExamples(o.out, total, records.map((r) => BigInt(r.index)));
  if (o.spec.attack === 'kns' && o.figures !== false) await rankFigure(o.out, results);
  writeFileAtomic(join(o.out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  if (parallel) broadcastJson(results);
  return results;
}

/**
 * Attacks the `pending` batches, handing each batch's result to `take` in data-set order (rank
 * 0; null on the others). Alone, every pending batch is this process's; across ranks, the
 * k-th pending batch is rank k mod world's, and each round gathers one batch per rank.
 */
async function attackRounds(o: AttackRunOptions, pending: number[], take: ((r: BatchResult) => void) | null): Promise<void> {
  const world = o.acrossRanks ? getWorldSize() : 1;
  const rank = world > 1 ? getRank() : 0;
  const mineList = pending.filter((_, k) => k % world === rank);
  const mine = new Set(mineList);
  const it = batches(o.dataset, { batchSize: o.batchSize, device: o.model.device, pick: (b) => mine.has(b) });
  for (let round = 0; round * world < pending.length; round++) {
    const b = round < mineList.length ? (await it.next()).value! : null;
    const local = b ? attackBatch(o, b) : null;
    if (world === 1) {
      take?.(local!);
    } else {
      scope(() => {
        const recs = allGatherJson(local ? { batch: local.batch, seconds: local.seconds, records: local.records } : null);
        const clean = o.saveExamples ? allGatherRows(local?.clean ?? emptyRows(o)) : null;
        const adv = o.saveExamples ? allGatherRows(local?.adversarial ?? emptyRows(o)) : null;
        recs.forEach((r, k) => {
          if (r) take?.({ ...r, clean: clean?.[k], adversarial: adv?.[k] });
        });
      });
    }
    local?.clean?.dispose();
    local?.adversarial?.dispose();
  }
}

function emptyRows(o: AttackRunOptions): Tensor {
  return zeros([0, ...o.dataset.imageShape], { device: o.model.device });
}

/** One batch attacked: its records and, when examples are saved, the clean and adversarial rows (kept). */
function attackBatch(o: AttackRunOptions, b: Batch & { batch: number }): BatchResult {
  const original = (i: number) => (o.dataset instanceof SubsetDataset ? o.dataset.positions[i]! : i);
  const t0 = performance.now();
  let clean: Tensor | undefined;
  let adversarial: Tensor | undefined;
  const recs = scope(() => {
    // records and random starts use positions in the full data set, whatever the subset
    const batch = { ...b, indices: b.indices.map(original),
      targets: o.targetClass === undefined ? undefined : full([b.indices.length], o.targetClass, { dtype: 'int64', device: b.images.device }) };
    const out = o.spec.attack === 'pgd' ? pgdAttack(o.model, batch, o.spec) : knsAttack(o.model, batch, o.spec);
    const recs = out.records as AnyRecord[];
    if (o.targetModel) {
      const rows = out.adversarial.shape[0]! / b.indices.length;
      const clean = rows === 1 ? b.images : b.images.repeatInterleave(rows, 0);
      const tc = noGrad(() => o.targetModel!.eval().forward(clean).logits.argmax(1)).toNumbers();
      const ta = noGrad(() => o.targetModel!.forward(out.adversarial).logits.argmax(1)).toNumbers();
      recs.forEach((r, i) => {
        r.targetCleanPrediction = tc[i]!;
        r.targetAdversarialPrediction = ta[i]!;
        r.targetSuccess = ta[i] !== tc[i];
      });
    }
    if (o.saveExamples) {
      const rows = out.adversarial.shape[0]! / b.indices.length;
      clean = (rows === 1 ? b.images.clone() : b.images.repeatInterleave(rows, 0)).keep();
      adversarial = out.adversarial.keep();
    }
    return recs;
  });
  b.images.dispose();
  b.labels.dispose();
  return { batch: b.batch, seconds: (performance.now() - t0) / 1000, records: recs, clean, adversarial };
}

function summarize(o: AttackRunOptions, records: AnyRecord[], seconds: number): AttackResults {
  const inputs = new Map<number, AnyRecord>();
  for (const r of records) if (!inputs.has(r.index)) inputs.set(r.index, r);
  const first = [...inputs.values()];
  const correct = new Set(first.filter((r) => r.cleanPrediction === r.label).map((r) => r.index));
  const spec = { ...o.spec, featureMean: undefined, featureStd: undefined };
  const res: AttackResults = {
    ...o.meta, attack: spec, count: inputs.size, cleanAccuracy: inputs.size ? correct.size / inputs.size : 0, seconds: +seconds.toFixed(2),
    successRate: 0, successRateCorrect: 0, robustAccuracy: 0,
  };
  const anySuccess = (filter: (r: AnyRecord) => boolean) => {
    const idx = new Set(records.filter((r) => filter(r)).map((r) => r.index));
    const hit = new Set(records.filter((r) => filter(r) && r.success).map((r) => r.index));
    return idx.size ? hit.size / idx.size : 0;
  };
  res.successRate = anySuccess(() => true);
  res.successRateCorrect = anySuccess((r) => correct.has(r.index));
  const fooled = new Set(records.filter((r) => r.success).map((r) => r.index));
  res.robustAccuracy = inputs.size ? [...correct].filter((i) => !fooled.has(i)).length / inputs.size : 0;
  if (o.spec.attack === 'kns') {
    const nr = records as NeuronRecord[];
    const start = o.spec.rankStart ?? 0;
    if (start === 0) {
      res.nNeuronSuccessRate = nNeuronRates(nr, o.spec.neurons);
      const correctRate = nNeuronRates(nr, o.spec.neurons, (r) => correct.has(r.index));
      res.nNeuronSuccessRateCorrect = correctRate;
      const share = inputs.size ? correct.size / inputs.size : 0;
      res.nNeuronRobustAccuracy = Object.fromEntries(Object.entries(correctRate).map(([n, rate]) => [n, share * (1 - rate)]));
    }
    const perRank: RankRate[] = [];
    for (let k = start + 1; k <= start + o.spec.rankCount; k++) {
      const at = nr.filter((r) => r.rank === k);
      perRank.push({ rank: k, successRate: at.filter((r) => r.success).length / Math.max(at.length, 1),
        deltaAchieveRate: at.filter((r) => r.deltaAchieved).length / Math.max(at.length, 1), ...targetSplit(at) });
    }
    res.perRank = perRank;
    res.deltaAchieveRate = nr.filter((r) => r.deltaAchieved).length / Math.max(nr.length, 1);
    res.targets = targetSplit(nr);
  }
  if (o.targetModel) {
    const t = records.filter((r) => r.targetCleanPrediction === r.label);
    const idx = new Set(t.map((r) => r.index));
    const hit = new Set(t.filter((r) => r.targetSuccess).map((r) => r.index));
    res.transfer = { targetCleanAccuracy: inputs.size ? new Set(first.filter((r) => r.targetCleanPrediction === r.label).map((r) => r.index)).size / inputs.size : 0,
      successRateCorrect: idx.size ? hit.size / idx.size : 0 };
  }
  return res;
}

/** Rows split by whether their target neuron was active on the clean input. */
export function targetSplit(rows: NeuronRecord[]): TargetSplit {
  const count = (rs: NeuronRecord[]): TargetCount => ({
    rows: rs.length,
    successRate: rs.length ? rs.filter((r) => r.success).length / rs.length : null,
    deltaAchieveRate: rs.length ? rs.filter((r) => r.deltaAchieved).length / rs.length : null,
  });
  return { active: count(rows.filter((r) => r.active)), inactive: count(rows.filter((r) => !r.active)) };
}

const COLUMNS: [string, (r: AnyRecord) => unknown][] = [
  ['index', (r) => r.index], ['label', (r) => r.label], ['clean_prediction', (r) => r.cleanPrediction],
  ['adversarial_prediction', (r) => r.adversarialPrediction], ['success', (r) => (r.success ? 1 : 0)],
  ['l2', (r) => r.l2], ['linf', (r) => r.linf], ['restart', (r) => r.restart], ['iteration', (r) => r.iteration],
];
const NEURON_COLUMNS: [string, (r: NeuronRecord) => unknown][] = [
  ['neuron', (r) => r.neuron], ['rank', (r) => r.rank], ['delta', (r) => r.delta], ['delta_achieved', (r) => (r.deltaAchieved ? 1 : 0)],
  ['active', (r) => (r.active ? 1 : 0)],
];
const TARGET_COLUMNS: [string, (r: AnyRecord) => unknown][] = [
  ['target_clean_prediction', (r) => r.targetCleanPrediction], ['target_adversarial_prediction', (r) => r.targetAdversarialPrediction],
  ['target_success', (r) => (r.targetSuccess ? 1 : 0)],
];

function toCsv(records: AnyRecord[]): string {
  const neuron = records.length > 0 && 'rank' in records[0]!;
  const target = records.length > 0 && records[0]!.targetCleanPrediction !== undefined;
  const cols = [...COLUMNS, ...(neuron ? NEURON_COLUMNS as [string, (r: AnyRecord) => unknown][] : []), ...(target ? TARGET_COLUMNS : [])];
  const lines = [cols.map(([h]) => h).join(',')];
  for (const r of records) lines.push(cols.map(([, get]) => String(get(r))).join(','));
  return lines.join('\n') + '\n';
}

function mergeExamples(out: string, total: number, indices: bigint[]): void {
  scope(() => {
    for (const [kind, file] of [['clean', 'clean.npy'], ['adv', 'adversarial.npy']] as const) {
      const parts: Tensor[] = [];
      for (let b = 0; b < total; b++) parts.push(loadNpy(join(out, PARTIAL, `${kind}-${b}.npy`)));
      saveNpy(join(out, file), parts.length === 1 ? parts[0]! : cat(parts, 0));
    }
  });
  saveNpyArray(join(out, 'indices.npy'), BigInt64Array.from(indices), [indices.length], 'int64');
  rmSync(join(out, PARTIAL), { recursive: true, force: true });
}

async function rankFigure(out: string, results: AttackResults): Promise<void> {
  const perRank = results.perRank ?? [];
  const fig = await lineFigure([
    { label: 'attack success', x: perRank.map((p) => p.rank), y: perRank.map((p) => p.successRate) },
    { label: 'Delta reached', x: perRank.map((p) => p.rank), y: perRank.map((p) => p.deltaAchieveRate), dashed: true },
  ], { title: 'Single-neuron attack success by neuron rank (Figure 2)', xLabel: 'neuron rank (1 = most sensitive for the input)', yLabel: 'rate', yDomain: [0, 1] });
  saveFigure(out, 'success-by-rank', fig);
}
