// A class list (--classes FILE): folder names in the model's class order, one a line. It maps
// the class folders of an image folder to the model's class indices, so a folder holding ten
// of ImageNet's classes evaluates against a 1000-class model.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIB, readRegularFile } from '../serialization/regularFile.js';

/** Lists shipped with Sauron, by the name --classes accepts instead of a file. */
export const SHIPPED_CLASS_LISTS: Record<string, string> = {
  imagenet: join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'imagenet-classes.txt'),
};

/** At most this many classes: labels are stored as uint16. */
export const MAX_CLASSES = 65535;

/** A model's classes in order, read from a file or a shipped list (`--classes`). */
export interface ClassList {
  /** Where the list came from (a file, or the shipped list's name and file). */
  source: string;
  /** Class names; a class's label is its position. */
  names: string[];
}

/** Parses a class list: blank lines and lines starting with # are skipped; a name listed twice is refused. */
export function parseClassList(text: string, source: string): ClassList {
  const names: string[] = [];
  const lineOf = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const name = raw.trim();
    if (!name || name.startsWith('#')) return;
    const first = lineOf.get(name);
    if (first !== undefined) throw new Error(`${source}:${i + 1}: class '${name}' is listed twice (first on line ${first})`);
    if (name.includes('/') || name === '.' || name === '..') throw new Error(`${source}:${i + 1}: '${name}' is not a folder name`);
    lineOf.set(name, i + 1);
    names.push(name);
  });
  if (names.length === 0) throw new Error(`${source}: no class names (one folder name a line; # starts a comment line)`);
  if (names.length > MAX_CLASSES) throw new Error(`${source}: ${names.length} classes, at most ${MAX_CLASSES}`);
  return { source, names };
}

/** A shipped list's name (`imagenet`) or a file of folder names. */
export function readClassList(spec: string): ClassList {
  const shipped = SHIPPED_CLASS_LISTS[spec];
  if (shipped && !existsSync(spec)) return parseClassList(readRegularFile(shipped, MIB).toString('utf8'), shipped);
  if (!existsSync(spec)) {
    throw new Error(
      `--classes: ${spec} does not exist (give a file of folder names, one a line, or one of: ${Object.keys(SHIPPED_CLASS_LISTS).join(', ')})`,
    );
  }
  return parseClassList(readRegularFile(spec, 16 * MIB).toString('utf8'), spec);
}
