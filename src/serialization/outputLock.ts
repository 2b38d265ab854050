// One writer per output folder: a lock file beside it (`.NAME.lock`) naming the process that
// holds it, taken over when that process is gone, nested when this process already holds it.
import { closeSync, mkdirSync, openSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { LockOwnerSchema } from './outputManifestSchema.js';
import { MIB, readRegularFile } from './regularFile.js';
import { parseAs, parseJsonText } from './schema.js';

interface LockOwner {
  pid: number;
  host: string;
  command: string;
  started: string;
}

/** `.NAME.SUFFIX` beside the folder `dir`: its lock, staging and previous folders. */
export const beside = (dir: string, suffix: string) => {
  const abs = resolve(dir);
  return join(dirname(abs), `.${basename(abs)}.${suffix}`);
};

export const lockPath = (dir: string) => beside(dir, 'lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Locks this process holds, by lock path, with a count: a library call that locks a folder
// its caller already locked (reproduce -> train) nests instead of refusing itself.
const held = new Map<string, number>();
let exitHook = false;

/** An output folder's lock, held while a command writes it. */
export interface OutputLock {
  /** Gives the lock up (also done at process exit). */
  release(): void;
}

/**
 * Takes the lock of an output folder (`.NAME.lock` beside it) or throws naming the process
 * that holds it. A lock whose owner is gone (killed, machine restarted) is taken over.
 */
export function lockOutput(dir: string, command: string): OutputLock {
  const path = lockPath(dir);
  const count = held.get(path);
  if (count !== undefined) {
    held.set(path, count + 1);
    return { release: () => releaseLock(path) };
  }
  mkdirSync(dirname(path), { recursive: true });
  const me: LockOwner = { pid: process.pid, host: hostname(), command, started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
    }
    let owner: LockOwner | null = null;
    try {
      owner = parseAs(LockOwnerSchema, parseJsonText(readRegularFile(path, MIB).toString('utf8'), path), path);
    } catch {
      // empty or cut: its writer is between creating and writing it, or died there
      let young: boolean;
      try {
        young = Date.now() - statSync(path).mtimeMs < 2000;
      } catch {
        continue; // gone meanwhile: try again
      }
      if (young) throw new Error(`${dir} is being locked by another Sauron process; try again`);
    }
    if (owner && owner.host !== me.host) {
      throw new Error(
        `${dir} is locked by process ${owner.pid} on ${owner.host} (${owner.command}, since ${owner.started}); ` +
          `if that process is gone, delete ${path}`,
      );
    }
    if (owner && owner.pid !== process.pid && alive(owner.pid)) {
      throw new Error(
        `${dir} is being written by another Sauron process (pid ${owner.pid}: ${owner.command}, since ${owner.started}); ` +
          'wait for it to finish or stop it',
      );
    }
    rmSync(path, { force: true });
  }
  held.set(path, 1);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of held.keys()) rmSync(p, { force: true });
    });
  }
  return { release: () => releaseLock(path) };
}

function releaseLock(path: string): void {
  const n = held.get(path);
  if (n === undefined) return;
  if (n > 1) {
    held.set(path, n - 1);
    return;
  }
  held.delete(path);
  try {
    const owner = parseAs(LockOwnerSchema, parseJsonText(readRegularFile(path, MIB).toString('utf8'), path), path);
    if (owner.pid === process.pid) unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Runs `fn` holding the folder's lock. */
export async function withOutputLock<T>(dir: string, command: string, fn: () => Promise<T> | T): Promise<T> {
  const lock = lockOutput(dir, command);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
