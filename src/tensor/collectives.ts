// Host-side collectives built on c10d's tensor ones, for the values a data-parallel run
// shares besides tensors: settings decided by rank 0, counters, records of variable length.
// Without a process group (world size 1) each is the identity, so callers need no branch.
import { tensor } from './creation.js';
import { allGather, allReduce, broadcast, getRank, getWorldSize } from './distributed.js';
import { scope } from './scope.js';

/** The rows [start, end) of `n` that `rank` takes: contiguous blocks, sizes differing by at most one. */
export function shardRange(n: number, rank = getRank(), world = getWorldSize()): [number, number] {
  return [Math.floor((rank * n) / world), Math.floor(((rank + 1) * n) / world)];
}

/** Rank `root`'s bytes on every rank (other ranks pass anything, e.g. null). */
export function broadcastBytes(bytes: Uint8Array | null, root = 0): Uint8Array {
  if (getWorldSize() === 1) return bytes ?? new Uint8Array(0);
  const lead = getRank() === root;
  if (lead && !bytes) throw new Error('broadcastBytes: the root rank must pass its bytes');
  return scope(() => {
    const len = tensor(new Float64Array([lead ? bytes!.length : 0]));
    broadcast(len, root);
    const n = len.item();
    // an empty tensor has no storage to send: pad to one byte
    const buf = new Uint8Array(Math.max(1, n));
    if (lead) buf.set(bytes!);
    const data = tensor(buf);
    broadcast(data, root);
    return (data.toArray<'uint8'>() as Uint8Array).slice(0, n);
  });
}

/** Rank `root`'s JSON-serialisable value on every rank. */
export function broadcastJson<T>(value: T | null, root = 0): T {
  if (getWorldSize() === 1) return value as T;
  const lead = getRank() === root;
  const bytes = broadcastBytes(lead ? new TextEncoder().encode(JSON.stringify(value)) : null, root);
  return JSON.parse(new TextDecoder().decode(bytes)) as T;
}

/**
 * Runs `fn` on rank `root` and hands its result to every rank; if it throws there, every rank
 * throws (the others name the root), instead of waiting for a broadcast that never comes.
 */
export async function fromRoot<T>(fn: () => T | Promise<T>, root = 0): Promise<T> {
  if (getWorldSize() === 1) return fn();
  let out: { ok: T } | { error: string } | null = null;
  let thrown: unknown = null;
  if (getRank() === root) {
    try {
      out = { ok: await fn() };
    } catch (e) {
      thrown = e;
      out = { error: (e as Error).message };
    }
  }
  const shared = broadcastJson(out, root)!;
  if (thrown) throw thrown;
  if ('error' in shared) throw new Error(`rank ${root} failed: ${shared.error}`);
  return shared.ok;
}

/** Element-wise sums over ranks, in float64 (exact for counts below 2^53). */
export function sumAcrossRanks(values: number[]): number[] {
  if (getWorldSize() === 1 || !values.length) return values;
  return scope(() => {
    const t = tensor(Float64Array.from(values));
    allReduce(t, 'sum');
    return t.toNumbers();
  });
}

/**
 * Every rank's rows in rank order, concatenated: `rows` is this rank's [n_r * width] numbers
 * (float64, so int32 indices and float32 values survive exactly).
 */
export function gatherRows(rows: ArrayLike<number>, width = 1): Float64Array {
  if (getWorldSize() === 1) return Float64Array.from(rows as ArrayLike<number>);
  if (rows.length % width) throw new Error(`gatherRows: ${rows.length} values are not rows of ${width}`);
  const counts = gatherCounts(rows.length / width);
  const most = Math.max(1, ...counts);
  return scope(() => {
    const padded = new Float64Array(most * width);
    padded.set(rows as ArrayLike<number>);
    const parts = allGather(tensor(padded));
    const out = new Float64Array(counts.reduce((a, c) => a + c, 0) * width);
    let at = 0;
    parts.forEach((p, r) => {
      const a = p.toArray<'float64'>() as Float64Array;
      out.set(a.subarray(0, counts[r]! * width), at);
      at += counts[r]! * width;
    });
    return out;
  });
}

/** Every rank's count, in rank order. */
export function gatherCounts(n: number): number[] {
  if (getWorldSize() === 1) return [n];
  return scope(() => allGather(tensor(new Float64Array([n]))).map((t) => t.item()));
}
