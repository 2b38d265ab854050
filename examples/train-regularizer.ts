// Train a Fashion-MNIST classifier with the sensitivity regularizer (the paper's section 4): the
// cross-entropy plus penalties on each input's most sensitive neurons, so no single feature
// neuron can flip a prediction cheaply. Writes a run folder (model.safetensors, model.json,
// metrics.jsonl) that the other examples and every `sauron` command take as --model.
//
//   npx tsx examples/train-regularizer.ts --out runs/fm-sensitivity
//   npx tsx examples/train-regularizer.ts --tiny --out /tmp/tiny-run       # seconds, for CI
import { parseArgs } from 'node:util';
import { DEFAULTS, train, type TrainConfig, type TrainProgress } from 'sauron';

const { values: a } = parseArgs({
  options: {
    out: { type: 'string', default: 'runs/fm-sensitivity' },
    epochs: { type: 'string' },
    width: { type: 'string' }, // channel multiplier of the small CNN (the default recipe: 0.5)
    limit: { type: 'string' }, // train on the first N images only (default: all 60,000)
    tiny: { type: 'boolean', default: process.env.SAURON_EXAMPLES_TINY === '1' },
  },
});

// Fashion-MNIST's default recipe (small CNN, SGD with a one-cycle schedule, the regularizer's
// top-k, delta1 and delta2), changed where the command line says so.
const d = DEFAULTS['fashion-mnist']!;
const config: TrainConfig = {
  ...d,
  dataset: 'fashion-mnist', // the copy shipped inside the package: nothing to download
  method: 'sensitivity',
  regularizer: d.regularizer, // { topK: 16, delta1: 1, delta2: 10 }
  keep: d.sensitivity.keep,
  epochs: Number(a.epochs ?? (a.tiny ? 1 : d.epochs)),
  width: Number(a.width ?? (a.tiny ? 0.25 : d.width)),
  limit: a.limit ? Number(a.limit) : a.tiny ? 1024 : undefined,
  testLimit: a.tiny ? 256 : undefined, // evaluate on the first N test images (default: all 10,000)
  // the per-epoch validation attack (L2 PGD on the first test images); off in tiny mode
  validation: a.tiny ? { ...d.validation, limit: 0 } : d.validation,
};

// The progress callback: called after every batch of training and of the test evaluation.
let last = 0;
function onProgress(p: TrainProgress): void {
  const now = Date.now();
  if (p.done < p.total && now - last < 1000) return; // at most one line a second
  last = now;
  const stats = Object.entries(p.stats ?? {})
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join(', ');
  console.log(`epoch ${p.epoch}/${p.epochs} ${p.phase} ${p.done}/${p.total}${stats ? ` (${stats})` : ''}`);
}

// force: replace a finished run in the same folder (it is swapped in only once the new one ends).
const result = await train(config, { out: a.out!, force: true, onProgress, log: (line) => console.log(line) });

const final = result.final;
console.log(`trained ${config.epochs} epoch(s) with the sensitivity regularizer into ${a.out}`);
if (final) console.log(`test accuracy ${(final.accuracy * 100).toFixed(1)}% on ${final.count} images`);
