// A run folder: what a training run writes, and the rules for reusing a folder.
import { existsSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../serialization/atomic.js';
import { MANIFEST_FILE, WEIGHTS_FILE } from '../models/runFolder.js';
import { removeCheckpoints, findCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { METRICS_FILE } from './metrics.js';

export { METRICS_FILE, readMetrics, writeMetrics, type EpochMetrics } from './metrics.js';

export const CONFIG_FILE = 'config.json';

const RUN_FILES = [CONFIG_FILE, METRICS_FILE, MANIFEST_FILE, WEIGHTS_FILE];

/** Prepares `dir` for a new run (refusing another run's folder unless force) or a resume. */
export function prepareRunDir(dir: string, mode: { resume?: boolean; force?: boolean }): void {
  const holdsRun = existsSync(dir) && (RUN_FILES.some((f) => existsSync(join(dir, f))) || findCheckpoint(dir) !== null);
  if (mode.resume) {
    if (!existsSync(join(dir, CONFIG_FILE))) throw new Error(`nothing to resume in ${dir}: it has no ${CONFIG_FILE}`);
    return;
  }
  if (holdsRun) {
    if (!mode.force) throw new Error(`${dir} holds another run: pass --resume to continue it or --force to replace it`);
    for (const f of RUN_FILES) rmSync(join(dir, f), { force: true });
    removeCheckpoints(dir);
  }
  mkdirSync(dir, { recursive: true });
  if (existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('.') && f.endsWith('.tmp'))) {
    for (const f of readdirSync(dir)) if (f.startsWith('.') && f.endsWith('.tmp')) rmSync(join(dir, f), { force: true });
  }
}

export function writeConfig(dir: string, config: TrainConfig): void {
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

export function readConfig(dir: string): TrainConfig {
  const p = join(dir, CONFIG_FILE);
  let c: unknown;
  try {
    c = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new Error(`${p} is damaged (${(e as Error).message}): the run's settings are lost; start over with --force`);
  }
  if (!c || typeof c !== 'object' || typeof (c as TrainConfig).method !== 'string' || !Number.isInteger((c as TrainConfig).epochs)) {
    throw new Error(`${p} is damaged (not a training configuration): the run's settings are lost; start over with --force`);
  }
  return c as TrainConfig;
}
