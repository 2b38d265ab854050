// A tiny trained Fashion-MNIST model with a sensitivity folder and a PGD attack folder, for
// the explorer's tests (seconds on two cores).
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../src/training/train.js';
import { DEFAULTS } from '../src/training/config.js';
import { ROOT } from './helpers.js';

export interface ExploreFixture { root: string; run: string; sens: string; attack: string }

function sauron(...args: string[]): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'sauron.js'), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sauron ${args[0]} failed: ${r.stderr}`);
}

export async function exploreFixture(): Promise<ExploreFixture> {
  const root = mkdtempSync(join(tmpdir(), 'sauron-explore-'));
  const run = join(root, 'run');
  await train({ ...DEFAULTS['fashion-mnist']!, method: 'standard', dataset: 'fashion-mnist', width: 0.125, epochs: 1,
    batchSize: 64, limit: 512, testLimit: 64, seed: 5 }, { out: run });
  const sens = join(root, 'sens');
  sauron('sensitivity', '--model', run, '--limit', '64', '--stats-split', 'test', '--out', sens);
  const attack = join(root, 'pgd');
  sauron('attack', '--model', run, '--attack', 'pgd', '--norm', 'l2', '--eps', '1', '--iterations', '5', '--limit', '32', '--out', attack);
  return { root, run, sens, attack };
}
