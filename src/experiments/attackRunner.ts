// Running an attack of any kind over a data set, batch by batch: the folder's lock, resuming
// from its progress, the batches taken in turns by the process group's ranks, the transfer
// evaluation and the examples. The kind (attackKind.ts) attacks a batch and summarizes its
// records; the folder (attackFolder.ts) keeps what is done.
import { performance } from 'node:perf_hooks';
import { SubsetDataset, type Batch, type ImageDataset } from '../data/dataset.js';
import { batches, batchCount } from '../data/loader.js';
import type { ImageClassifier } from '../models/classifier.js';
import { withOutputLock } from '../serialization/outputDir.js';
import { scope } from '../tensor/scope.js';
import { zeros } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { allGatherJson, allGatherRows, awaitAnnouncement, broadcastJson, leadAnnouncing } from '../tensor/collectives.js';
import type { Progress } from '../progress.js';
import { samplesCsv, type AttackKind, type AttackRow, type Column } from './attackKind.js';
import { AttackFolder, type BatchResult } from './attackFolder.js';
import {
  evaluateTransfer,
  hasTransfer,
  TRANSFER_COLUMNS,
  transferSummary,
  type TransferFields,
  type TransferSummary,
} from './transferEvaluation.js';

/**
 * What every attack run into a folder takes: model, data set, output folder, batch size, resuming, transfer target.
 */
export interface AttackRunnerOptions {
  model: ImageClassifier;
  dataset: ImageDataset;
  out: string;
  batchSize: number;
  saveExamples?: boolean;
  /** Also evaluate the adversarial examples on this model (transfer). */
  targetModel?: ImageClassifier;
  resume?: boolean;
  /** Recorded in results.json (first) and in the resume fingerprint. */
  meta?: Record<string, unknown>;
  /** Called after each batch with the batches done and the running rates. */
  onProgress?: (p: Progress) => void;
  /**
   * Split the batches across the process group's ranks; rank 0 gathers every batch's records
   * (and examples) in data-set order and alone writes the folder, exactly as one process does.
   */
  acrossRanks?: boolean;
}

/** results.json: the run's meta, the kind's settings as `attack`, its summary, and the transfer when there is a target model. */
export type RunResults<S extends object> = Record<string, unknown> & { attack: Record<string, unknown> } & S & {
    transfer?: TransferSummary;
  };

type Row<R> = R & TransferFields;

/**
 * Runs (or resumes) an attack into `o.out`, holding the folder's lock. Across ranks, every
 * rank calls it with the same options; rank 0 returns the results, and so do the others.
 */
export async function runAttackKind<R extends AttackRow, S extends object>(
  kind: AttackKind<R, S>,
  o: AttackRunnerOptions,
): Promise<RunResults<S>> {
  const parallel = !!o.acrossRanks && getWorldSize() > 1;
  if (parallel && getRank() !== 0) {
    await attackRounds(kind, o, awaitAnnouncement<number[]>('the attack'), null);
    return broadcastJson<RunResults<S>>(null);
  }
  const locked = (announce: (pending: number[]) => void) => withOutputLock(o.out, kind.label, () => runLocked(kind, o, parallel, announce));
  return parallel ? leadAnnouncing(locked) : locked(() => {});
}

async function runLocked<R extends AttackRow, S extends object>(
  kind: AttackKind<R, S>,
  o: AttackRunnerOptions,
  parallel: boolean,
  announce: (pending: number[]) => void,
): Promise<RunResults<S>> {
  // a transfer run's rows hold the target model's columns: a run without one (or the reverse) cannot continue it
  const fingerprint = `${JSON.stringify(
    {
      ...kind.fingerprint,
      batchSize: o.batchSize,
      count: o.dataset.length,
      saveExamples: !!o.saveExamples,
      ...(o.targetModel ? { transfer: o.targetModel.config } : {}),
      meta: o.meta,
    },
    null,
    2,
  )}\n`;
  const folder = AttackFolder.open<Row<R>>(o.out, fingerprint, { resume: o.resume, saveExamples: o.saveExamples });
  const total = batchCount(o.dataset, o.batchSize);
  const pending = Array.from({ length: total }, (_, b) => b).filter((b) => !folder.done.has(b));
  announce(pending);
  await attackRounds(kind, o, pending, (r) => {
    folder.add(r);
    o.onProgress?.({ done: folder.done.size, total, stats: kind.progress([...folder.done.values()].flat()) });
  });
  const records = folder.records();
  const results = {
    ...o.meta,
    attack: kind.settings,
    ...kind.summarize(records, folder.seconds),
    ...(o.targetModel ? { transfer: transferSummary(records) } : {}),
  } as RunResults<S>;
  const columns = [...kind.columns(records), ...(hasTransfer(records) ? TRANSFER_COLUMNS : [])] as Column<Row<R>>[];
  folder.writeSamples(samplesCsv(records, columns));
  if (o.saveExamples)
    folder.mergeExamples(
      total,
      records.map((r) => r.index),
    );
  await kind.figures?.(o.out, results);
  folder.writeResults(results);
  if (parallel) broadcastJson(results);
  return results;
}

/**
 * Attacks the `pending` batches, handing each batch's result to `take` in data-set order (rank
 * 0; null on the others). Alone, every pending batch is this process's; across ranks, the
 * k-th pending batch is rank k mod world's, and each round gathers one batch per rank, unless
 * the kind shares each batch's rows among the ranks itself (every rank attacks every batch).
 */
async function attackRounds<R extends AttackRow>(
  kind: AttackKind<R, object>,
  o: AttackRunnerOptions,
  pending: number[],
  take: ((r: BatchResult<Row<R>>) => void) | null,
): Promise<void> {
  const world = o.acrossRanks ? getWorldSize() : 1;
  const rank = world > 1 ? getRank() : 0;
  // a kind that shares each batch's rows has every rank attack every batch, with the whole output on each
  const shared = world > 1 && !!kind.sharesRows;
  const mineList = shared ? pending : pending.filter((_, k) => k % world === rank);
  const mine = new Set(mineList);
  const it = batches(o.dataset, { batchSize: o.batchSize, device: o.model.device, pick: (b) => mine.has(b) });
  for (let round = 0; round * (shared ? 1 : world) < pending.length; round++) {
    const b = round < mineList.length ? (await it.next()).value! : null;
    const local = b ? attackBatch(kind, o, b) : null;
    if (world === 1 || shared) {
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

function emptyRows(o: AttackRunnerOptions): Tensor {
  return zeros([0, ...o.dataset.imageShape], { device: o.model.device });
}

/** One batch attacked: its records and, when examples are saved, the clean and adversarial rows (kept). */
function attackBatch<R extends AttackRow>(
  kind: AttackKind<R, object>,
  o: AttackRunnerOptions,
  b: Batch & { batch: number },
): BatchResult<Row<R>> {
  const original = (i: number) => (o.dataset instanceof SubsetDataset ? o.dataset.positions[i]! : i);
  const t0 = performance.now();
  let clean: Tensor | undefined;
  let adversarial: Tensor | undefined;
  const records = scope(() => {
    // records and random starts use positions in the full data set, whatever the subset
    const out = kind.attack(o.model, { ...b, indices: b.indices.map(original) });
    const records = out.records as Row<R>[];
    const rows = out.adversarial.shape[0]! / b.indices.length;
    if (o.targetModel) evaluateTransfer(o.targetModel, b.images, out.adversarial, rows, records);
    if (o.saveExamples) {
      clean = (rows === 1 ? b.images.clone() : b.images.repeatInterleave(rows, 0)).keep();
      adversarial = out.adversarial.keep();
    }
    return records;
  });
  b.images.dispose();
  b.labels.dispose();
  return { batch: b.batch, seconds: (performance.now() - t0) / 1000, records, clean, adversarial };
}
