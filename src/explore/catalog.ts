// What the explorer was given: each folder is a run, sensitivity, attack or reproduce folder,
// or a folder holding such folders one level down (`sauron explore runs/`). Sensitivity and
// attack folders are attached to the model they name; a reproduce folder brings its models,
// their sensitivity and attack folders, Table 1 and figures.
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { z } from 'zod';
import { basename, join, resolve } from 'node:path';
import { MANIFEST_FILE } from '../models/runFolder.js';
import { SUMMARY_FILE } from '../analysis/sensitivityFiles.js';
import { layout } from '../reproduce/layout.js';
import { MODEL_KINDS } from '../reproduce/settings.js';
import { readJsonFile } from '../serialization/schema.js';

export interface ModelSource {
  id: string;
  dir: string;
  sensitivityDir: string | null;
  attackDirs: string[];
}

export interface ReproduceSource {
  id: string;
  dir: string;
}

export interface Sources {
  /** The given folders, resolved through symlinks: the only places files are served from. */
  roots: string[];
  models: ModelSource[];
  reproduce: ReproduceSource[];
}

type Kind = 'run' | 'sensitivity' | 'attack' | 'reproduce' | null;

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

function kindOf(dir: string): Kind {
  if (existsSync(join(dir, MANIFEST_FILE))) return 'run';
  if (existsSync(join(dir, SUMMARY_FILE)) && existsSync(join(dir, 'deltas.npy'))) return 'sensitivity';
  if (existsSync(join(dir, 'results.json')) && existsSync(join(dir, 'samples.csv'))) return 'attack';
  if (existsSync(layout.settings(dir)) && isDir(join(dir, 'models'))) return 'reproduce';
  return null;
}

/** What the catalog reads of a sensitivity summary or attack results: the model they name. */
const RecordsModel = z.looseObject({ model: z.string({ error: 'expected the path of the model the command ran on' }).optional() });
/** ... and of a reproduce folder's settings.json: where its models are, when they were given. */
const ReproduceModels = z.looseObject({ models: z.record(z.string(), z.string()).optional() });

/** A model path recorded by a command (relative to where it ran, which is usually here). */
function recordedModel(dir: string, file: string): string | null {
  const m = readJsonFile(join(dir, file), RecordsModel).model;
  if (m === undefined) return null;
  const p = resolve(m);
  return isDir(p) ? realpathSync(p) : null;
}

export function scanFolders(folders: string[]): Sources {
  if (folders.length === 0) throw new Error('give at least one run, sensitivity, attack or reproduce folder');
  const roots: string[] = [];
  const found: { kind: Exclude<Kind, null>; dir: string }[] = [];
  for (const f of folders) {
    if (!isDir(f)) throw new Error(`${f} is not a folder`);
    const root = realpathSync(f);
    roots.push(root);
    const k = kindOf(root);
    if (k) {
      found.push({ kind: k, dir: root });
      continue;
    }
    const inside = readdirSync(root)
      .map((n) => join(root, n))
      .filter(isDir)
      .map((d) => ({ kind: kindOf(d), dir: realpathSync(d) }));
    const known = inside.filter((x): x is { kind: Exclude<Kind, null>; dir: string } => x.kind !== null);
    if (known.length === 0) throw new Error(`${f} holds no run, sensitivity, attack or reproduce folder (looked one level down)`);
    found.push(...known);
  }

  const models = new Map<string, ModelSource>();
  const ids = new Set<string>();
  const addModel = (dir: string, name: string): ModelSource => {
    const had = models.get(dir);
    if (had) return had;
    const base = name.replace(/[^A-Za-z0-9_.-]/g, '_') || 'model';
    let id = base;
    for (let k = 2; ids.has(id); k++) id = `${base}-${k}`;
    ids.add(id);
    const m: ModelSource = { id, dir, sensitivityDir: null, attackDirs: [] };
    models.set(dir, m);
    return m;
  };
  const reproduce: ReproduceSource[] = [];
  for (const { dir } of found.filter((x) => x.kind === 'reproduce')) {
    reproduce.push({ id: basename(dir), dir });
    let models: Record<string, string> = {};
    try {
      models = readJsonFile(layout.settings(dir), ReproduceModels).models ?? {};
    } catch {
      // a damaged settings.json: the models trained inside the folder are still found
    }
    for (const k of MODEL_KINDS) {
      const run = layout.model({ out: dir, models: models[k] ? { [k]: resolve(models[k]) } : {} }, k);
      if (!existsSync(join(run, MANIFEST_FILE))) continue;
      const m = addModel(realpathSync(run), k);
      const sens = layout.sensitivity(dir, k);
      if (kindOf(sens) === 'sensitivity') m.sensitivityDir = realpathSync(sens);
      const attacks = join(dir, 'attacks', k);
      if (isDir(attacks)) {
        for (const a of readdirSync(attacks).sort())
          if (kindOf(join(attacks, a)) === 'attack') m.attackDirs.push(realpathSync(join(attacks, a)));
      }
    }
  }
  for (const { dir } of found.filter((x) => x.kind === 'run')) addModel(dir, basename(dir));
  for (const { kind, dir } of found.filter((x) => x.kind === 'sensitivity' || x.kind === 'attack')) {
    const file = kind === 'sensitivity' ? SUMMARY_FILE : 'results.json';
    const modelDir = recordedModel(dir, file);
    if (!modelDir || !existsSync(join(modelDir, MANIFEST_FILE))) {
      throw new Error(
        `${dir}: the model its ${file} names is not a run folder that exists here; run the explorer where the ${kind} command ran`,
      );
    }
    const m = addModel(modelDir, basename(modelDir));
    if (kind === 'sensitivity') m.sensitivityDir = dir;
    else m.attackDirs.push(dir);
  }
  return { roots, models: [...models.values()], reproduce };
}
