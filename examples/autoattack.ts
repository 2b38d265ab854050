// AutoAttack evaluation (Croce & Hein, 2020), as RobustBench reports it: robust accuracy, the
// share of test images classified correctly that no attack of the cascade fools, with a 95%
// Wilson interval, and the robust accuracy left after each attack in turn.
//
//   npx tsx examples/autoattack.ts --model runs/fm-sensitivity --norm linf --eps 0.1 --limit 1000 --version standard
//   npx tsx examples/autoattack.ts --tiny --model /tmp/tiny-run     # APGD-CE alone on 16 images
import { parseArgs } from 'node:util';
import {
  autoAttack,
  autoAttackPlan,
  batches,
  loadModel,
  openDataset,
  robustAccuracyByAttack,
  scope,
  wilson,
  type AutoAttackRecord,
  type AutoAttackVersion,
  type Norm,
  type RobustAttackName,
} from 'sauron';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/fm-sensitivity' }, // a run folder (examples/train-regularizer.ts)
    norm: { type: 'string', default: 'linf' },
    eps: { type: 'string', default: '0.02' }, // Fashion-MNIST's Linf budget in the paper's Table 1 (pixels in [0, 1])
    version: { type: 'string', default: 'standard' }, // standard, plus, rand, or custom with --attacks
    attacks: { type: 'string' }, // custom: e.g. apgd-ce,square
    limit: { type: 'string', default: '1000' },
    tiny: { type: 'boolean', default: process.env.SAURON_EXAMPLES_TINY === '1' },
  },
});
// Tiny mode runs one attack of the cascade: the full standard version takes minutes per image batch on a CPU.
const version = (a.tiny ? 'custom' : a.version) as AutoAttackVersion;
const attacks = (a.tiny ? ['apgd-ce'] : a.attacks?.split(',')) as RobustAttackName[] | undefined;
const config = { version, attacks, norm: a.norm as Norm, eps: Number(a.eps), seed: 0 };
const plan = autoAttackPlan(version, config.norm, attacks); // the attacks, in the order they run

const { model } = loadModel(a.model!);
const test = await openDataset('fashion-mnist', 'test', { limit: a.tiny ? 16 : Number(a.limit) });
console.log(`AutoAttack ${version} (${plan.map((p) => p.attack).join(', ')}), ${config.norm} eps ${config.eps}, ${test.length} images`);

const records: AutoAttackRecord[] = [];
for await (const batch of batches(test, { batchSize: 128 })) {
  // autoAttack returns one record per image and the examples; scope frees the examples (and the batch).
  scope(() => {
    records.push(...autoAttack(model, batch, config).records);
    batch.images.dispose();
    batch.labels.dispose();
  });
  console.log(`  ${records.length}/${test.length} images`);
}
model.dispose();

// Robust: classified correctly and fooled by no attack (an image misclassified clean is not attacked).
const n = records.length;
const robust = records.filter((r) => r.cleanPrediction === r.label && r.fooledBy === null).length;
const [low, high] = wilson(robust, n);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const byAttack = robustAccuracyByAttack(
  records,
  plan.map((p) => p.attack),
);
console.log(`clean accuracy ${pct(byAttack.clean!)}`);
console.log(`robust accuracy ${pct(robust / n)} (95% interval ${pct(low)} to ${pct(high)}, ${robust}/${n})`);
for (const p of plan) console.log(`  after ${p.attack}: ${pct(byAttack[p.attack]!)}`);
