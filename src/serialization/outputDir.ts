// The output discipline of every command: one writer per output folder (a lock file beside
// it naming its owner), results written into a staging folder beside the destination and
// swapped in only when complete with a manifest written last, so an interrupted or failed
// run never replaces or mixes with an earlier complete result.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { OutputManifestSchema } from './outputManifestSchema.js';
import { fileKind } from './regularFile.js';
import { readJsonFile } from './schema.js';
import { testPause } from './testPause.js';
import { beside, withOutputLock } from './outputLock.js';

export { lockOutput, lockPath, withOutputLock, type OutputLock } from './outputLock.js';

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

/** Where a new result for `dir` is written before it replaces `dir`. */
export const stagingPath = (dir: string) => beside(dir, 'staging');
const previousPath = (dir: string) => beside(dir, 'previous');

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
export async function writeOutput<T>(
  dir: string,
  o: { kind: string; command: string; settings?: unknown },
  fn: (staging: string) => Promise<T> | T,
): Promise<T> {
  return withOutputLock(dir, o.command, async () => {
    recoverOutput(dir);
    // The swap replaces the whole folder: never one that holds something else.
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      const m = readOutputManifest(dir);
      if (!m)
        throw new Error(
          `${dir} holds files that no \`sauron ${o.kind}\` wrote (it has no ${OUTPUT_MANIFEST}): choose another --out, or remove it`,
        );
      if (m.kind !== o.kind)
        throw new Error(`${dir} holds the output of \`sauron ${m.kind}\`: choose another --out for \`sauron ${o.kind}\``);
    }
    const staging = stagingPath(dir);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    let result: T;
    try {
      result = await fn(staging);
      const files = listFiles(staging)
        .filter((f) => f !== OUTPUT_MANIFEST)
        .map((name) => ({ name, bytes: statSync(join(staging, name)).size, sha256: sha256(join(staging, name)) }));
      const manifest: OutputManifest = {
        kind: o.kind,
        command: o.command,
        settings: o.settings ?? null,
        files,
        completed: new Date().toISOString(),
      };
      writeFileAtomic(join(staging, OUTPUT_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      if (isDiskFull(e)) {
        throw new Error(
          `no space left on the disk holding ${dir} while writing the new result; the earlier result is untouched ` +
            '(free some space and run the command again)',
        );
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
