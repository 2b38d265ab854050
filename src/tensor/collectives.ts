// Host-side collectives built on c10d's tensor ones, for the values a data-parallel run
// shares besides tensors: settings decided by rank 0, counters, records of variable length.
// Without a process group (world size 1) each is the identity, so callers need no branch.
import { tensor, zeros } from './creation.js';
import { cat, type Tensor } from './tensor.js';
import { allGather, allReduce, broadcast, getRank, getWorldSize } from './distributed.js';
import { scope } from './scope.js';

// host values travel as CPU tensors whatever the default device
const HOST = { device: 'cpu' } as const;

/** Rank `root`'s bytes on every rank (other ranks pass anything, e.g. null). */
export function broadcastBytes(bytes: Uint8Array | null, root = 0): Uint8Array {
  if (getWorldSize() === 1) return bytes ?? new Uint8Array(0);
  const lead = getRank() === root;
  if (lead && !bytes) throw new Error('broadcastBytes: the root rank must pass its bytes');
  return scope(() => {
    const len = tensor(new Float64Array([lead ? bytes!.length : 0]), HOST);
    broadcast(len, root);
    const n = len.item();
    // an empty tensor has no storage to send: pad to one byte
    const buf = new Uint8Array(Math.max(1, n));
    if (lead) buf.set(bytes!);
    const data = tensor(buf, HOST);
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
  // the root keeps its own value (functions and all); the others get its JSON
  return out && 'ok' in out ? out.ok : shared.ok;
}

/** Element-wise sums over ranks, in float64 (exact for counts below 2^53). */
export function sumAcrossRanks(values: number[]): number[] {
  if (getWorldSize() === 1 || !values.length) return values;
  return scope(() => {
    const t = tensor(Float64Array.from(values), HOST);
    allReduce(t, 'sum');
    return t.toNumbers();
  });
}

/**
 * Every rank's rows of `t` (any dtype, any row count, same trailing shape), in rank order: the
 * row counts are exchanged first, then the tensors padded to the longest and gathered. With a
 * world of one, `[t]` itself.
 */
export function allGatherRows(t: Tensor): Tensor[] {
  if (getWorldSize() === 1) return [t];
  const counts = gatherCounts(t.shape[0]!);
  const most = Math.max(1, ...counts);
  return scope(() => {
    const pad = most - t.shape[0]!;
    const padded = pad > 0 ? cat([t, zeros([pad, ...t.shape.slice(1)], { dtype: t.dtype, device: t.device })], 0) : t;
    return allGather(padded.contiguous()).map((p, r) => p.narrow(0, 0, counts[r]!).contiguous());
  });
}

/** Every rank's JSON-serialisable value, in rank order. */
export function allGatherJson<T>(value: T): T[] {
  if (getWorldSize() === 1) return [value];
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return scope(() => allGatherRows(tensor(bytes, { shape: [bytes.length], ...HOST }))
    .map((t) => JSON.parse(new TextDecoder().decode(t.toArray<'uint8'>() as Uint8Array)) as T));
}

/** Every rank's count, in rank order. */
export function gatherCounts(n: number): number[] {
  if (getWorldSize() === 1) return [n];
  return scope(() => allGather(tensor(new Float64Array([n]), HOST)).map((t) => t.item()));
}
