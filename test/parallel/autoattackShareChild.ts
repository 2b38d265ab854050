// One rank of autoattackShare.test.ts (or the single process, WORLD_SIZE=1): AutoAttack
// `standard`, shortened, on the first inputs of Fashion-MNIST's test split with the ranks
// sharing each attack's rows; prints the rows each attack got here, the records and each
// example's pixel sum as one JSON line.
import { join } from 'node:path';
import { autoAttack, type PlannedAttack, type RobustComponent } from '../../src/attacks/autoattack.js';
import { COMPONENTS } from '../../src/attacks/autoattackComponents.js';
import type { RobustAttackName } from '../../src/attacks/robustAttackTypes.js';
import { openDataset } from '../../src/data/registry.js';
import { loadAnyModel } from '../../src/models/load.js';
import { destroyProcessGroup, getRank, initProcessGroup, scope } from '../../src/tensor/index.js';
import { ROOT } from '../support/helpers.js';

const world = Number(process.env.WORLD_SIZE ?? 1);
if (world > 1) initProcessGroup({ timeoutMs: 30000 });
const { model } = loadAnyModel(join(ROOT, 'fixtures', 'broken', 'plain.pt'), { inputShape: [1, 28, 28] });
const ds = await openDataset('fashion-mnist', 'test');
const batch = await ds.load(Array.from({ length: 30 }, (_, i) => i));
// fewer iterations, targets and queries: the cascade's shape at a test's cost
const shorter = (p: PlannedAttack): PlannedAttack =>
  p.attack === 'square' ? { ...p, queries: 40 } : { ...p, iterations: 8, ...('targetClasses' in p ? { targetClasses: 2 } : {}) };
const calls: Partial<Record<RobustAttackName, number[]>> = {};
const components = Object.fromEntries(
  (['apgd-ce', 'apgd-t', 'fab-t', 'square'] as const).map((a) => [
    a,
    ((m, b, p, base) => {
      calls[a] = [...b.indices];
      return COMPONENTS[a](m, b, shorter(p), base);
    }) satisfies RobustComponent,
  ]),
);
const out = scope(() => {
  const r = autoAttack(model, batch, { version: 'standard', norm: 'linf', eps: 0.03, seed: 3, components, acrossRanks: world > 1 });
  return { records: r.records, sums: r.adversarial.reshape([30, -1]).sum(1).toNumbers() };
});
console.log(JSON.stringify({ rank: world > 1 ? getRank() : 0, calls, ...out }));
if (world > 1) destroyProcessGroup();
