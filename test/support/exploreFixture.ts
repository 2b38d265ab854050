// A tiny trained Fashion-MNIST model with a sensitivity folder and a PGD attack folder, for
// the explorer's tests (seconds on two cores).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../../src/training/train.js';
import { DEFAULTS } from '../../src/training/config.js';
import { sauronOk } from './cli.js';

export interface ExploreFixture {
  root: string;
  run: string;
  sens: string;
  attack: string;
}

export async function exploreFixture(): Promise<ExploreFixture> {
  const root = mkdtempSync(join(tmpdir(), 'sauron-explore-'));
  const run = join(root, 'run');
  await train(
    {
      ...DEFAULTS['fashion-mnist']!,
      method: 'standard',
      dataset: 'fashion-mnist',
      width: 0.125,
      epochs: 1,
      batchSize: 64,
      limit: 512,
      testLimit: 64,
      seed: 5,
    },
    { out: run },
  );
  const sens = join(root, 'sens');
  sauronOk(['sensitivity', '--model', run, '--limit', '64', '--stats-split', 'test', '--out', sens]);
  const attack = join(root, 'pgd');
  sauronOk([
    'attack',
    '--model',
    run,
    '--attack',
    'pgd',
    '--norm',
    'l2',
    '--eps',
    '1',
    '--iterations',
    '5',
    '--limit',
    '32',
    '--out',
    attack,
  ]);
  return { root, run, sens, attack };
}
