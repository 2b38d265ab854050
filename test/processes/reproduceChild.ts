// A tiny `reproduce` in a child process, for tests that kill it: node --import tsx
// test/processes/reproduceChild.ts OUT [STEP_PREFIX...]. SENS_LIMIT sets how many test inputs the
// sensitivity steps cover (statistics over train + test, so a large limit takes seconds).
import { reproduce } from '../../src/index.js';
import { tinyReproduceSettings } from '../support/helpers.js';

const [out, ...only] = process.argv.slice(2);
const s = tinyReproduceSettings();
const settings = process.env.SENS_LIMIT
  ? { ...s, sensitivity: { limit: Number(process.env.SENS_LIMIT), statsSplit: 'train+test' as const } }
  : s;
await reproduce({ out: out!, settings, only: only.length ? only : undefined });
