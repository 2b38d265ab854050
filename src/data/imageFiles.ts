// Which files of an image folder are read: JPEG and PNG files that are regular files inside
// the data folder. A symlink may point elsewhere inside it; one that leaves it (x.jpg ->
// /dev/zero, a class folder -> /) and a FIFO, device or socket with an image's name are
// refused when the folder is listed, before anything runs.
import { lstatSync, readdirSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import { fileKind, readRegularFileAsync, MIB } from '../serialization/regularFile.js';

export const IMAGE_EXT = /\.(jpe?g|png)$/i;

/** The largest image file read: far above any photograph, far below memory. */
export const MAX_IMAGE_BYTES = 64 * MIB;

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function isInside(real: string, realRoot: string): boolean {
  const r = relative(realRoot, real);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

type Kind = 'dir' | 'file' | 'other';

const kindOfStats = (st: Stats): Kind => (st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other');

/**
 * What `p` is, following a symlink only if its target stays inside the data folder. Returns
 * null for an entry that will not be read (a broken link, or a link leaving the folder whose
 * name is not an image's) and throws for one that would be.
 */
function entryKind(p: string, e: Dirent, realRoot: string, label: string): { kind: Kind; st?: Stats } | null {
  if (e.isDirectory()) return { kind: 'dir' };
  if (e.isFile()) return { kind: 'file' };
  const lst = lstatSync(p);
  if (!lst.isSymbolicLink()) return { kind: kindOfStats(lst), st: lst };
  let real: string;
  let st: Stats;
  try {
    real = realpathSync(p);
    st = statSync(real);
  } catch {
    if (IMAGE_EXT.test(e.name)) throw new Error(`${label}: ${p} is a broken symlink`);
    return null;
  }
  if (!isInside(real, realRoot)) {
    if (st.isDirectory() || IMAGE_EXT.test(e.name)) {
      throw new Error(`${label}: ${p} is a symlink to ${real}, outside the data folder ${realRoot} (only files inside it are read)`);
    }
    return null;
  }
  return { kind: kindOfStats(st), st };
}

function entries(dir: string): Dirent[] {
  return readdirSync(dir, { withFileTypes: true }).sort((a, b) => byCodeUnit(a.name, b.name));
}

/** The class folders of root (sorted): sub-folders, or links to folders inside the data folder. */
export function classFolders(root: string, realRoot: string, label: string): string[] {
  const out: string[] = [];
  for (const e of entries(root)) {
    const k = entryKind(join(root, e.name), e, realRoot, label);
    if (k?.kind === 'dir') out.push(e.name);
  }
  return out;
}

/**
 * Image files under dir, sorted, descending into sub-folders (links followed inside the data
 * folder, as torchvision's os.walk(followlinks=True) does, except a link back to a folder
 * being walked or above it, which would loop).
 */
export function listImages(dir: string, realRoot: string, label: string, out: string[] = [], walking = new Set<string>()): string[] {
  const real = realpathSync(dir);
  // a link to a folder being walked, or to one holding it, would walk it again (and again)
  for (const w of walking) if (isInside(w, real)) return out;
  walking.add(real);
  const subdirs: string[] = [];
  for (const e of entries(dir)) {
    const p = join(dir, e.name);
    const k = entryKind(p, e, realRoot, label);
    if (!k) continue;
    if (k.kind === 'dir') subdirs.push(p);
    else if (IMAGE_EXT.test(e.name)) {
      if (k.kind !== 'file') throw new Error(`${label}: ${p} is ${k.st ? fileKind(k.st) : 'a FIFO, device or socket'}, not a regular file`);
      out.push(p);
    }
  }
  for (const d of subdirs) listImages(d, realRoot, label, out, walking);
  walking.delete(real);
  return out;
}

/** An image file's bytes: still a regular file inside the data folder, and at most maxBytes. */
export async function readImageFile(file: string, realRoot: string, maxBytes = MAX_IMAGE_BYTES): Promise<Buffer> {
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    throw new Error(`${file} no longer exists`);
  }
  if (!isInside(real, realRoot)) throw new Error(`${file} is a symlink to ${real}, outside the data folder ${realRoot}`);
  return readRegularFileAsync(real, maxBytes).catch((e: Error) => {
    throw new Error(e.message.replace(real, file));
  });
}
