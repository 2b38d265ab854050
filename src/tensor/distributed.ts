// Collectives over PyTorch's c10d (Gloo on the CPU), as torch.distributed offers them:
// rendezvous through a TCPStore that rank 0 serves, the launcher's environment read the way
// torchrun sets it (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Each call waits for its result;
// a rank that died makes the others fail after the group's timeout with an error, not a hang.
import { native } from '../native.js';
import type { Tensor } from './tensor.js';
import { wrap, wrapMany } from './tensor.js';

/**
 * Where this process sits in a c10d process group (defaults from torchrun's RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT).
 */
export interface ProcessGroupOptions {
  rank?: number;
  worldSize?: number;
  /** Where rank 0 serves the rendezvous store (default MASTER_ADDR, else 127.0.0.1). */
  host?: string;
  /** Default MASTER_PORT, else 29500 (torchrun's). */
  port?: number;
  /** How long rendezvous and every collective may wait for the other ranks (default 60 s). */
  timeoutMs?: number;
}

/** How allReduce combines the ranks' tensors. */
export type ReduceOp = 'sum' | 'max' | 'min' | 'product';

let state: { rank: number; worldSize: number } | null = null;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${v} is not a non-negative integer`);
  return n;
}

/** Joins the process group (torchrun's environment unless told otherwise). */
export function initProcessGroup(o: ProcessGroupOptions = {}): { rank: number; worldSize: number } {
  if (!native.hasGloo) {
    throw new Error(
      "this build of the addon has no Gloo (its libtorch came without gloo's headers); install them (Debian: libgloo-dev) and run npm ci",
    );
  }
  if (state) throw new Error('the process group is already initialised');
  const rank = o.rank ?? envInt('RANK') ?? 0;
  const worldSize = o.worldSize ?? envInt('WORLD_SIZE') ?? 1;
  const port = o.port ?? envInt('MASTER_PORT') ?? 29500;
  if (!(worldSize >= 1)) throw new RangeError(`world size must be at least 1, got ${worldSize}`);
  if (!(rank >= 0 && rank < worldSize)) throw new RangeError(`rank ${rank} is outside a world of ${worldSize}`);
  if (!(port > 0 && port < 65536)) throw new RangeError(`port ${port} is outside 1..65535`);
  // Under torchrun the agent already serves the store on MASTER_PORT: every rank is its client,
  // under the key prefix PyTorch's own workers use (torch.distributed.rendezvous).
  const agentStore = process.env.TORCHELASTIC_USE_AGENT_STORE === 'True';
  native.initProcessGroup({
    rank,
    worldSize,
    port,
    host: o.host ?? process.env.MASTER_ADDR ?? '127.0.0.1',
    timeoutMs: o.timeoutMs ?? 60000,
    agentStore,
    ...(agentStore ? { prefix: `/worker/attempt_${process.env.TORCHELASTIC_RESTART_COUNT ?? 0}` } : {}),
  });
  state = { rank, worldSize };
  return state;
}

/** Whether this build has c10d's Gloo backend (collectives and the synchronised batch norm). */
export function hasGloo(): boolean {
  return native.hasGloo;
}

/** Whether this process has joined a process group. */
export function isInitialized(): boolean {
  return state !== null;
}

/** This process's rank (0 without a process group). */
export function getRank(): number {
  return state?.rank ?? 0;
}

/** Processes in the group (1 without one). */
export function getWorldSize(): number {
  return state?.worldSize ?? 1;
}

// Gloo's own messages name a socket, not a cause: say what failed and which rank is gone.
function collective<T>(name: string, fn: () => T): T {
  if (!state) throw new Error(`${name}: no process group (call initProcessGroup() first)`);
  try {
    return fn();
  } catch (e) {
    const msg = (e as Error).message;
    const lost = /closed|timed? ?out|connect|peer|reset/i.test(msg);
    throw new Error(`${name} on rank ${state.rank} of ${state.worldSize} failed (${msg})${lost ? `: ${whoStopped(state)}` : ''}`);
  }
}

// How long survivors of a failed collective wait for each other to check in through the
// store: a rank busy computing reaches its next collective, fails too, and checks in.
const CHECK_IN_MS = 10000;

/**
 * Names the ranks that stopped: every survivor checks in under a key of the rendezvous store
 * (which outlives the process group's sockets), and the ranks that never do are named. With
 * two ranks the other one is the answer. A store that cannot be reached means the process
 * serving it (rank 0, unless a launcher's agent serves it) is gone.
 */
function whoStopped(s: { rank: number; worldSize: number }): string {
  const others = Array.from({ length: s.worldSize }, (_, r) => r).filter((r) => r !== s.rank);
  if (others.length === 1) return `rank ${others[0]} stopped or cannot be reached`;
  const key = (r: number) => `sauron/survivor/${r}`;
  try {
    native.storeAdd(key(s.rank), 1);
    const waitUntil = Date.now() + CHECK_IN_MS;
    let missing = others;
    while (missing.length && Date.now() < waitUntil) {
      missing = missing.filter((r) => !native.storeCheck(key(r)));
      if (missing.length) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
    if (!missing.length) return 'another rank stopped or cannot be reached';
    return `rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} stopped or cannot be reached (no check-in within ${CHECK_IN_MS / 1000} s)`;
  } catch {
    return process.env.TORCHELASTIC_USE_AGENT_STORE === 'True'
      ? "another rank stopped, and the launcher's store cannot be reached"
      : 'rank 0 (which serves the rendezvous store) stopped or cannot be reached';
  }
}

// c10d's tensor lists are one tensor per device of a rank, all of one shape: several tensors
// of a process go through one call each.

/** Reduces each tensor across ranks, in place on every rank. */
export function allReduce(tensors: Tensor | Tensor[], op: ReduceOp = 'sum'): void {
  for (const t of Array.isArray(tensors) ? tensors : [tensors]) collective('allReduce', () => native.allReduce([t.native], op));
}

/** Overwrites each tensor on every rank with rank `root`'s. */
export function broadcast(tensors: Tensor | Tensor[], root = 0): void {
  for (const t of Array.isArray(tensors) ? tensors : [tensors]) collective('broadcast', () => native.broadcast([t.native], root));
}

/** Every rank's copy of `t`, in rank order (same shape on every rank). */
export function allGather(t: Tensor): Tensor[] {
  return collective('allGather', () => wrapMany(native.allGather(t.native)));
}

/** Waits until every rank has reached this point. */
export function barrier(): void {
  collective('barrier', () => native.barrier());
}

/**
 * Training-mode batch norm over the union of every rank's batch (PyTorch's SyncBatchNorm),
 * differentiable; updates the running statistics in place. Every rank must call it for the
 * same layers in the same order (two collectives forward, one backward). Statistics are
 * accumulated in float64. Without a process group it normalises this process's batch with
 * the same kernel, so one process and several agree to rounding.
 */
export function syncBatchNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  runningMean: Tensor,
  runningVar: Tensor,
  momentum: number,
  eps: number,
): Tensor {
  const call = () =>
    wrap(
      native.syncBatchNorm(x.native, weight?.native ?? null, bias?.native ?? null, runningMean.native, runningVar.native, momentum, eps),
    );
  return state ? collective('syncBatchNorm', call) : call();
}

/** Leaves the process group (a no-op without one). */
export function destroyProcessGroup(): void {
  if (!state) return;
  native.destroyProcessGroup();
  state = null;
}
