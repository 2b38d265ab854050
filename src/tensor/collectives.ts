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

type Announcement<P> = { ok: P } | { error: string };

/**
 * Rank `root`'s side of a plan handed to the other ranks: `work` calls `announce(plan)` once
 * it knows what they need (they wait in `awaitAnnouncement`); if it throws before that, they
 * get its error instead of waiting for a broadcast that never comes.
 */
export async function leadAnnouncing<P, R>(work: (announce: (plan: P) => void) => Promise<R>, root = 0): Promise<R> {
  let announced = false;
  try {
    return await work((plan) => {
      announced = true;
      broadcastJson<Announcement<P>>({ ok: plan }, root);
    });
  } catch (e) {
    if (getWorldSize() > 1 && !announced) broadcastJson<Announcement<P>>({ error: (e as Error).message }, root);
    throw e;
  }
}

/** The other ranks' side: rank `root`'s plan, or its error naming `what` it was doing. */
export function awaitAnnouncement<P>(what: string, root = 0): P {
  const a = broadcastJson<Announcement<P>>(null, root);
  if ('error' in a) throw new Error(`rank ${root} stopped before ${what}: ${a.error}`);
  return a.ok;
}

/**
 * Runs `fn` on rank `root` and hands its result to every rank; if it throws there, every rank
 * throws (the others name the root). The root keeps its own value (functions and all); the
 * others get its JSON.
 */
export async function fromRoot<T>(fn: () => T | Promise<T>, root = 0, what = 'going on'): Promise<T> {
  if (getWorldSize() === 1) return fn();
  if (getRank() !== root) return awaitAnnouncement<T>(what, root);
  return leadAnnouncing<T, T>(async (announce) => {
    const value = await fn();
    announce(value);
    return value;
  }, root);
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
  return scope(() =>
    allGatherRows(tensor(bytes, { shape: [bytes.length], ...HOST })).map(
      (t) => JSON.parse(new TextDecoder().decode(t.toArray<'uint8'>() as Uint8Array)) as T,
    ),
  );
}

/** Every rank's count, in rank order. */
export function gatherCounts(n: number): number[] {
  if (getWorldSize() === 1) return [n];
  return scope(() => allGather(tensor(new Float64Array([n]), HOST)).map((t) => t.item()));
}
