// A tiny `reproduce` in a child process, for tests that kill it: node --import tsx
// test/reproduceChild.ts OUT [STEP_PREFIX...]. SENS_LIMIT sets how many test inputs the
// sensitivity steps cover (statistics over train + test, so a large limit takes seconds).
import { reproduce, reproduceSettings, type ReproduceSettings } from '../src/index.js';

const [out, ...only] = process.argv.slice(2);
const s = reproduceSettings('fashion-mnist', true, 0);
const small = { width: 0.125, epochs: 1, limit: 512, testLimit: 128, batchSize: 64, validation: { eps: 0.3, steps: 2, limit: 16 } };
const settings: ReproduceSettings = {
  ...s,
  train: {
    standard: { ...small, method: 'standard' },
    l2: { ...small, method: 'pgd', adversarial: { norm: 'l2', eps: 0.3, steps: 1 } },
    linf: { ...small, method: 'pgd', adversarial: { norm: 'linf', eps: 0.02, steps: 1 } },
    sensitivity: { ...small, method: 'sensitivity', regularizer: { topK: 8, delta1: 1, delta2: 10 } },
  },
  inputs: 8,
  pgd: { iterations: 2, restarts: 1 },
  kns: { iterations: 2, neurons: [1, 2], ranks: 2 },
  sweep: { l2: [0.3], linf: [0.02], inputs: 4 },
  sensitivity: { limit: Number(process.env.SENS_LIMIT ?? 48), statsSplit: process.env.SENS_LIMIT ? 'train+test' : 'test' },
  pruning: { steps: 2, limit: 64, attackLimit: 4, attackSteps: 1 },
  batchSize: 32,
};
await reproduce({ out: out!, settings, only: only.length ? only : undefined });
