// An attack's rows shared by the process group's ranks. Splitting a run's inputs into one block
// per rank leaves each rank whatever share of the hard inputs its block holds: in AutoAttack
// nearly all the work goes to the inputs still robust after APGD-CE, and a block of 500 of the
// first 1,000 Fashion-MNIST test inputs can hold 9% more of them than the other. Shared here,
// the rows left for an attack are dealt out in turn (row k to rank k mod world), so the ranks'
// counts differ by at most one at every stage, and every rank gets every rank's records and
// examples back. Each row's outcome does not depend on the rows beside it (its draws are seeded
// by its input), so the answers are the single process's.
import { tensor, zeros } from '../tensor/creation.js';
import { allGatherJson, allGatherRows } from '../tensor/collectives.js';
import { getRank, getWorldSize } from '../tensor/distributed.js';
import { cat } from '../tensor/tensor.js';
import type { AttackBatch, AttackOutput, SampleRecord } from './attackTypes.js';

/** The rows (positions in a batch of `count`) that `rank` of `world` attacks: every world-th from its rank. */
export function rowsOfRank(count: number, rank: number, world: number): number[] {
  return Array.from({ length: Math.max(0, Math.ceil((count - rank) / world)) }, (_, k) => rank + k * world);
}

/**
 * Runs `run` on this rank's rows of `batch` and returns every rank's outputs, in the batch's
 * order, on every rank. Without a process group it is `run(batch)`. The records travel as JSON,
 * so they must hold finite numbers; `run` must return one record and one example per row.
 */
export function shareRows<R extends SampleRecord>(batch: AttackBatch, run: (mine: AttackBatch) => AttackOutput<R>): AttackOutput<R> {
  const world = getWorldSize();
  if (world === 1) return run(batch);
  const n = batch.indices.length;
  const device = batch.images.device;
  const mine = rowsOfRank(n, getRank(), world);
  let out: AttackOutput<R>;
  if (mine.length) {
    const idx = tensor(BigInt64Array.from(mine, BigInt), { shape: [mine.length], device });
    out = run({
      images: batch.images.indexSelect(0, idx),
      labels: batch.labels.indexSelect(0, idx),
      indices: mine.map((i) => batch.indices[i]!),
    });
    if (out.records.length !== mine.length || out.adversarial.shape[0] !== mine.length)
      throw new Error(`shareRows: ${out.records.length} records and ${out.adversarial.shape[0]} examples for ${mine.length} rows`);
  } else {
    out = { records: [], adversarial: zeros([0, ...batch.images.shape.slice(1)], { device }) };
  }
  for (const r of out.records)
    for (const [key, v] of Object.entries(r))
      if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`shareRows: record field ${key} is ${v}, which JSON cannot carry`);
  const records = allGatherJson(out.records);
  const examples = allGatherRows(out.adversarial.contiguous());
  // rank r's k-th row is row r + k * world; its examples follow those of the ranks before it
  const first = examples.map((_, r) => examples.slice(0, r).reduce((at, e) => at + e.shape[0]!, 0));
  const order = Array.from({ length: n }, (_, i) => first[i % world]! + Math.floor(i / world));
  return {
    records: Array.from({ length: n }, (_, i) => records[i % world]![Math.floor(i / world)]!),
    adversarial: cat(examples, 0).indexSelect(0, tensor(BigInt64Array.from(order, BigInt), { shape: [n], device })),
  };
}
