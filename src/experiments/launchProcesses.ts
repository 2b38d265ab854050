// A local launcher in torchrun's manner, without Python: N copies of a command, each with the
// environment torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT), their output prefixed with the rank. When one exits with an error, the others
// are stopped (SIGTERM, then SIGKILL after a grace period) and the failure names that rank.
import { availableParallelism } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface LaunchOptions {
  nproc: number;
  command: string;
  args: string[];
  /** Default: a free port on 127.0.0.1. */
  masterPort?: number;
  masterAddr?: string;
  /** Seconds the others get to stop after one failed (default 10). */
  graceSeconds?: number;
  env?: NodeJS.ProcessEnv;
  /** Each output line, with its rank and stream. */
  onLine?: (rank: number, stream: 'stdout' | 'stderr', line: string) => void;
}

export interface LaunchResult {
  /** Exit code per rank (null: ended by a signal). */
  codes: (number | null)[];
  /** The first rank that failed, or null when every rank exited 0. */
  failedRank: number | null;
  reason: string | null;
}

/** A TCP port on `host` that was free a moment ago (for a rendezvous). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function launchProcesses(o: LaunchOptions): Promise<LaunchResult> {
  if (!Number.isInteger(o.nproc) || o.nproc < 1) throw new RangeError(`--nproc must be a positive integer, got ${o.nproc}`);
  const addr = o.masterAddr ?? '127.0.0.1';
  const port = o.masterPort ?? (await freePort(addr));
  const grace = (o.graceSeconds ?? 10) * 1000;
  const children: ChildProcess[] = [];
  const codes: (number | null)[] = Array(o.nproc).fill(null);
  let failedRank: number | null = null;
  let reason: string | null = null;
  let stopping = false;
  const stopOthers = () => {
    if (stopping) return;
    stopping = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, grace).unref();
  };
  // N processes each with all the cores' threads would fight over them: as torchrun does, a
  // rank gets its share of the cores unless the caller chose (OMP_NUM_THREADS)
  const threads =
    process.env.OMP_NUM_THREADS ?? o.env?.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / o.nproc)));
  const exits = Array.from(
    { length: o.nproc },
    (_, rank) =>
      new Promise<void>((resolve) => {
        const child = spawn(o.command, o.args, {
          env: {
            ...process.env,
            OMP_NUM_THREADS: threads,
            ...o.env,
            RANK: String(rank),
            LOCAL_RANK: String(rank),
            WORLD_SIZE: String(o.nproc),
            LOCAL_WORLD_SIZE: String(o.nproc),
            MASTER_ADDR: addr,
            MASTER_PORT: String(port),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        for (const stream of ['stdout', 'stderr'] as const) {
          let rest = '';
          child[stream]!.on('data', (d: Buffer) => {
            const lines = (rest + d.toString()).split('\n');
            rest = lines.pop()!;
            for (const l of lines) o.onLine?.(rank, stream, l);
          });
          child[stream]!.on('end', () => rest && o.onLine?.(rank, stream, rest));
        }
        child.on('error', (e) => {
          if (failedRank === null) {
            failedRank = rank;
            reason = `rank ${rank} could not start ${o.command}: ${e.message}`;
          }
          stopOthers();
          resolve();
        });
        child.on('exit', (code, signal) => {
          codes[rank] = code;
          if ((code !== 0 || signal) && failedRank === null && !stopping) {
            failedRank = rank;
            reason = `rank ${rank} ${signal ? `was ended by ${signal}` : `exited with code ${code}`}`;
            stopOthers();
          }
          resolve();
        });
      }),
  );
  await Promise.all(exits);
  return { codes, failedRank, reason };
}
