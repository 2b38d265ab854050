// One child of bench/attacks/knsProtocol.ts: 16-NS (k-NS with k = 16, 50 iterations) over the first
// test inputs of a trained Fashion-MNIST model, or over synthetic inputs of a CIFAR-shaped VGG-19
// (seeded weights, calibrated batch norm), in one configuration, under whichever BLAS this
// process loaded (the parent picks it with LD_LIBRARY_PATH) and whichever malloc settings it
// runs with (MALLOC_* in the environment replace the addon's). Prints one JSON line.
import { parseArgs } from 'node:util';
import { Generator, loadModel, noGrad, scope, type ImageClassifier } from '../../src/index.js';
import { blasLibrary, rand } from '../../src/tensor/index.js';
import { knsAttack, type KnsConfig } from '../../src/attacks/kns.js';
import { featureStats, FeatureStatsAccumulator } from '../../src/analysis/featureStats.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { subset } from '../../src/data/registry.js';
import { BUDGETS } from '../../src/reproduce/settings.js';
import type { Batch } from '../../src/data/dataset.js';
import { calibratedVgg } from '../shared/calibratedVgg.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    vgg: { type: 'string' },
    limit: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '50' },
    'fake-relu': { type: 'string', default: 'off' },
    fold: { type: 'string', default: 'on' },
    early: { type: 'string', default: 'on' },
    'row-batch': { type: 'string', default: 'default' },
  },
});
const n = 16;
let model: ImageClassifier;
let batches: Batch[];
let cfg: KnsConfig;
// 'all': every row of a batch in one step, as at filing; 'default': defaultKnsRowBatch's chunks
const rowBatch = a['row-batch'] === 'all' ? Number.MAX_SAFE_INTEGER : a['row-batch'] === 'default' ? undefined : Number(a['row-batch']);
const common = {
  iterations: 50,
  seed: 0,
  rankCount: n,
  fakeRelu: a['fake-relu'] === 'on',
  foldBatchNorm: a.fold === 'on',
  earlyStop: a.early === 'on',
  rowBatch,
};
if (a.vgg) {
  model = calibratedVgg();
  const k = Number(a.vgg);
  const images = rand([k, 3, 32, 32], { generator: new Generator(2) });
  batches = [{ images, labels: noGrad(() => model.forward(images).logits.argmax(1)), indices: Array.from({ length: k }, (_, i) => i) }];
  // statistics over other synthetic images, as a data set's would be
  const acc = new FeatureStatsAccumulator(model.featureDim);
  scope(() =>
    acc.add(noGrad(() => model.forward(rand([256, 3, 32, 32], { generator: new Generator(3) })).features).toArray<'float32'>(), 256),
  );
  const stats = acc.result();
  cfg = { ...common, norm: 'l2', eps: BUDGETS.cifar10!.l2, featureMean: stats.mean, featureStd: stats.std };
} else {
  model = loadModel(a.model!).model;
  const test = loadFashionMnist('test');
  const stats = await featureStats(model, [subset(test, { limit: 2000 })]);
  const limit = Number(a.limit);
  const bs = Number(a.batch);
  batches = Array.from({ length: Math.ceil(limit / bs) }, (_, k) =>
    test.loadSync(Array.from({ length: Math.min(bs, limit - k * bs) }, (_, i) => k * bs + i)),
  );
  cfg = { ...common, norm: 'l2', eps: BUDGETS['fashion-mnist']!.l2, featureMean: stats.mean, featureStd: stats.std };
}
const hits = new Array<number>(n).fill(0);
let rows = 0;
let frozen = 0;
let achieved = 0;
// row by row, in record order, so two configurations can be compared outcome for outcome
let outcomes = '';
const t0 = performance.now();
for (const b of batches) {
  scope(() => {
    const out = knsAttack(model, b, cfg);
    for (const r of out.records) {
      if (r.success) hits[r.rank - 1]!++;
      if (r.deltaAchieved) achieved++;
      outcomes += r.success ? '1' : '0';
      rows++;
    }
    frozen += out.frozenRows ?? 0;
  });
}
const seconds = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    seconds,
    hits,
    outcomes,
    rows,
    dropped: frozen / rows,
    achieved,
    library: blasLibrary(),
    faultsMib: (process.resourceUsage().minorPageFault * 4096) / 2 ** 20,
  }),
);
