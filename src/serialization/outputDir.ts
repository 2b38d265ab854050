// The output discipline of every command: one writer per output folder (a lock file beside
// it naming its owner), results written into a staging folder beside the destination and
// swapped in only when complete with a manifest written last, so an interrupted or failed
// run never replaces or mixes with an earlier complete result.
import { createHash } from 'node:crypto';
import {
  closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { LockOwnerSchema, OutputManifestSchema } from './outputManifestSchema.js';
import { fileKind, MIB, readRegularFile } from './regularFile.js';
import { parseAs, parseJsonText, readJsonFile } from './schema.js';
import { testPause } from './testPause.js';

/** Written last into a complete output folder. */
export const OUTPUT_MANIFEST = 'sauron-output.json';

/**
 * The manifest (sauron-output.json) a complete output folder holds: what wrote it and the size and SHA-256 of every file.
 */
export interface OutputManifest {
  /** What wrote the folder ('sensitivity', 'prune', ...): another kind of command does not replace it. */
  kind: string;
  command: string;
  settings: unknown;
  /** Every file of the folder but this one, with its size and SHA-256. */
  files: { name: string; bytes: number; sha256: string }[];
  completed: string;
}

interface LockOwner {
  pid: number;
  host: string;
  command: string;
  started: string;
}

const beside = (dir: string, suffix: string) => {
  const abs = resolve(dir);
  return join(dirname(abs), `.${basename(abs)}.${suffix}`);
};

export const lockPath = (dir: string) => beside(dir, 'lock');
/** Where a new result for `dir` is written before it replaces `dir`. */
export const stagingPath = (dir: string) => beside(dir, 'staging');
const previousPath = (dir: string) => beside(dir, 'previous');

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
        writeSync(fd, JSON.stringify(me) + '\n');
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
      throw new Error(`${dir} is locked by process ${owner.pid} on ${owner.host} (${owner.command}, since ${owner.started}); ` +
        `if that process is gone, delete ${path}`);
    }
    if (owner && owner.pid !== process.pid && alive(owner.pid)) {
      throw new Error(`${dir} is being written by another Sauron process (pid ${owner.pid}: ${owner.command}, since ${owner.started}); ` +
        'wait for it to finish or stop it');
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

function sha256(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function listFiles(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(root, p));
    else if (e.isFile()) out.push(relative(root, p));
  }
  return out.sort();
}

function isDiskFull(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return err?.code === 'ENOSPC' || /ENOSPC|no space left/i.test(String(err?.message ?? e));
}

/**
 * An interrupted swap leaves the destination missing and the previous result beside it:
 * put it back.
 */
export function recoverOutput(dir: string): void {
  const prev = previousPath(dir);
  if (!existsSync(prev)) return;
  // `.previous` exists only between swapIn's two renames: a missing destination means the swap
  // was cut after the first, and `.previous` is the earlier complete result
  if (!existsSync(dir)) renameSync(prev, dir);
  else rmSync(prev, { recursive: true, force: true });
}

/**
 * Writes an output folder in one piece: `fn` fills a staging folder beside `dir`; when it
 * returns, the manifest (file names, sizes, hashes) is written last and the staging folder
 * replaces `dir`. If `fn` throws or the process dies, `dir` keeps its earlier content. Holds
 * the folder's lock throughout.
 */
export async function writeOutput<T>(dir: string, o: { kind: string; command: string; settings?: unknown },
  fn: (staging: string) => Promise<T> | T): Promise<T> {
  return withOutputLock(dir, o.command, async () => {
    recoverOutput(dir);
    // The swap replaces the whole folder: never one that holds something else.
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      const m = readOutputManifest(dir);
      if (!m) throw new Error(`${dir} holds files that no \`sauron ${o.kind}\` wrote (it has no ${OUTPUT_MANIFEST}): choose another --out, or remove it`);
      if (m.kind !== o.kind) throw new Error(`${dir} holds the output of \`sauron ${m.kind}\`: choose another --out for \`sauron ${o.kind}\``);
    }
    const staging = stagingPath(dir);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    let result: T;
    try {
      result = await fn(staging);
      const files = listFiles(staging).filter((f) => f !== OUTPUT_MANIFEST)
        .map((name) => ({ name, bytes: statSync(join(staging, name)).size, sha256: sha256(join(staging, name)) }));
      const manifest: OutputManifest = { kind: o.kind, command: o.command, settings: o.settings ?? null, files, completed: new Date().toISOString() };
      writeFileAtomic(join(staging, OUTPUT_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      if (isDiskFull(e)) {
        throw new Error(`no space left on the disk holding ${dir} while writing the new result; the earlier result is untouched ` +
          '(free some space and run the command again)');
      }
      throw e;
    }
    testPause(`output ${o.kind} written`);
    swapIn(staging, dir);
    return result;
  });
}

/** Replaces `dir` with the complete `staging` folder; a kill between the renames is undone by recoverOutput. */
export function swapIn(staging: string, dir: string): void {
  const prev = previousPath(dir);
  rmSync(prev, { recursive: true, force: true });
  if (existsSync(dir)) renameSync(dir, prev);
  renameSync(staging, dir);
  rmSync(prev, { recursive: true, force: true });
}

/** A complete output folder's manifest, or null for folders written without one. */
export function readOutputManifest(dir: string): OutputManifest | null {
  const p = join(dir, OUTPUT_MANIFEST);
  if (!existsSync(p)) return null;
  try {
    return readJsonFile(p, OutputManifestSchema) as OutputManifest;
  } catch (e) {
    throw new Error(`${p} is damaged (${(e as Error).message.replace(`${p}: `, '')}); run the command again to rewrite ${dir}`);
  }
}

/**
 * Checks a file of an output folder against the folder's manifest (size and hash; `quick`:
 * size only, for every read); throws naming the damaged file. Folders without a manifest
 * (older versions, a folder the file was written into directly) pass.
 */
export function verifyOutputFile(dir: string, name: string, quick = false): void {
  const m = readOutputManifest(dir);
  if (!m) return;
  const entry = m.files.find((f) => f.name === name);
  const p = join(dir, name);
  if (!entry) throw new Error(`${p} is not part of the complete result in ${dir} (its ${OUTPUT_MANIFEST} does not list it)`);
  if (!existsSync(p)) throw new Error(`${p} is missing from the complete result in ${dir}; run the command again`);
  const st = statSync(p);
  if (!st.isFile()) throw new Error(`${p} is ${fileKind(st)} where a file was written; run the command again`);
  const bytes = st.size;
  if (bytes !== entry.bytes) throw new Error(`${p} is damaged: ${bytes} bytes where ${entry.bytes} were written; run the command again`);
  if (quick) return;
  if (sha256(p) !== entry.sha256) throw new Error(`${p} is damaged: its contents changed since it was written; run the command again`);
}
