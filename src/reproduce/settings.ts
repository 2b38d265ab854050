// What `sauron reproduce` runs, per data set: the full default and --quick.
import { DEFAULTS, type TrainConfig } from '../training/config.js';
import { ATTACK_DEFAULTS } from '../attacks/defaults.js';

export const MODEL_KINDS = ['standard', 'l2', 'linf', 'sensitivity'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export const MODEL_TITLES: Record<ModelKind, string> = {
  standard: 'standard', l2: 'L2 PGD-trained', linf: 'Linf PGD-trained', sensitivity: 'sensitivity-trained',
};

export interface ReproduceSettings {
  dataset: string;
  data?: string;
  seed: number;
  /** Training overrides per model on top of the data set's defaults. */
  train: Record<ModelKind, Partial<TrainConfig>>;
  /** Attack budgets (the paper's per data set). */
  budgets: { l2: number; linf: number };
  pgd: { iterations: number; restarts: number; limit: number };
  kns: { iterations: number; limit: number; neurons: number[] };
  sensitivity: { limit?: number; statsSplit: 'train+test' | 'test' };
  /** Pruning curve: `steps` evenly spaced counts from 0 to all features. */
  pruning: { steps: number; limit?: number; attackLimit: number; attackSteps: number };
  batchSize: number;
}

/** The paper's Table 1 (CIFAR-10, VGG-19), percent. */
export const PAPER_TABLE1: Partial<Record<string, Record<ModelKind, { clean: number; l2Pgd: number; linfPgd: number; l2Kns?: number[] }>>> = {
  cifar10: {
    standard: { clean: 93.0, l2Pgd: 97.8, linfPgd: 99.9, l2Kns: [33.0, 71.7, 93.1, 97.7] },
    l2: { clean: 86.7, l2Pgd: 34.8, linfPgd: 71.2 },
    linf: { clean: 78.3, l2Pgd: 34.4, linfPgd: 50.7 },
    sensitivity: { clean: 92.9, l2Pgd: 40.8, linfPgd: 49.5 },
  },
};

export function reproduceSettings(dataset: string, quick: boolean, seed = 0): ReproduceSettings {
  const d = DEFAULTS[dataset];
  if (!d) throw new Error(`unknown data set '${dataset}'`);
  const budgets = dataset === 'fashion-mnist' ? { l2: 1.5, linf: 0.1 } : dataset === 'cifar10' ? { l2: 0.5, linf: 8 / 255 } : { l2: 3, linf: 4 / 255 };
  const adv = (norm: 'l2' | 'linf', steps: number): Partial<TrainConfig> => ({ method: 'pgd', adversarial: { norm, eps: budgets[norm], steps } });
  if (!quick) {
    const advEpochs = dataset === 'fashion-mnist' ? 6 : d.epochs;
    return {
      dataset, seed, batchSize: 128, budgets,
      train: {
        standard: { method: 'standard' },
        l2: { ...adv('l2', d.adversarial.steps), epochs: advEpochs },
        linf: { ...adv('linf', d.adversarial.steps), epochs: advEpochs },
        sensitivity: { method: 'sensitivity', regularizer: d.regularizer },
      },
      pgd: { iterations: ATTACK_DEFAULTS.pgd.iterations, restarts: ATTACK_DEFAULTS.pgd.restarts, limit: 1000 },
      kns: { iterations: ATTACK_DEFAULTS.kns.iterations, limit: dataset === 'fashion-mnist' ? 500 : 1000, neurons: [1, 4, 8, 16] },
      sensitivity: { statsSplit: dataset === 'imagenet' ? 'test' : 'train+test' },
      pruning: { steps: 8, attackLimit: 500, attackSteps: 20 },
    };
  }
  const small: Partial<TrainConfig> = { width: dataset === 'fashion-mnist' ? 0.25 : 0.25, epochs: 2, limit: 12000, testLimit: 1000,
    validation: { ...d.validation, limit: 128 } };
  return {
    dataset, seed, batchSize: 128, budgets,
    train: {
      standard: { ...small, method: 'standard' },
      l2: { ...small, ...adv('l2', 2), epochs: 1 },
      linf: { ...small, ...adv('linf', 2), epochs: 1 },
      sensitivity: { ...small, method: 'sensitivity', regularizer: d.regularizer },
    },
    pgd: { iterations: 10, restarts: 1, limit: 200 },
    kns: { iterations: 20, limit: 64, neurons: [1, 4, 8, 16] },
    sensitivity: { limit: 1000, statsSplit: 'test' },
    pruning: { steps: 4, limit: 1000, attackLimit: 100, attackSteps: 10 },
  };
}

export function pruningCounts(features: number, steps: number): number[] {
  const step = Math.max(1, Math.round(features / steps));
  const out: number[] = [];
  for (let c = 0; c <= features; c += step) out.push(c);
  if (out[out.length - 1] !== features) out.push(features);
  return out;
}
