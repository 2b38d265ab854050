// Attack one batch of test images two ways and save what the attacks made:
// - PGD, the usual attack on the input under an L2 or Linf budget;
// - k-NS with k = 1, the single-neuron attack of the paper: push each image's most sensitive
//   feature neuron alone (ranked by its scaled Delta) until the prediction flips.
// Writes clean.npy, pgd.npy and kns.npy ([B, C, H, W] float32, open them with numpy.load) and
// attacks.png (one row per image: clean, PGD, k-NS).
//
//   npx tsx examples/attack-batch.ts --model runs/fm-sensitivity --out runs/attack-batch --norm l2 --eps 1.5
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { featureStats, knsAttack, loadModel, openDataset, pgdAttack, scope, type Norm, type Tensor } from 'sauron';
import { saveNpy } from 'sauron/serialization';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'runs/fm-sensitivity' }, // a run folder (examples/train-regularizer.ts writes one)
    out: { type: 'string', default: 'runs/attack-batch' },
    norm: { type: 'string', default: 'l2' },
    eps: { type: 'string', default: '0.3' }, // Fashion-MNIST's L2 budget in the paper's setting (pixels in [0, 1])
    'batch-size': { type: 'string', default: '16' },
    tiny: { type: 'boolean', default: process.env.SAURON_EXAMPLES_TINY === '1' },
  },
});
const n = Number(a['batch-size']);
const budget = { norm: a.norm as Norm, eps: Number(a.eps), seed: 0 };

const { model } = loadModel(a.model!);
const test = await openDataset('fashion-mnist', 'test');
// k-NS ranks neurons by Delta scaled with each neuron's mean and std over the data (the paper's section 2).
const stats = await featureStats(model, [await openDataset('fashion-mnist', 'train', { limit: a.tiny ? 512 : 10_000 })]);
const batch = await test.load(Array.from({ length: n }, (_, i) => i)); // images [n, 1, 28, 28] in [0, 1], labels [n]
mkdirSync(a.out!, { recursive: true });

const knsOptions = { rankCount: 1, fakeRelu: false, featureMean: stats.mean, featureStd: stats.std };

// scope() frees every tensor created inside (the adversarial examples) when it returns.
const grid = scope(() => {
  const pgd = pgdAttack(model, batch, { ...budget, iterations: a.tiny ? 5 : 20, restarts: 1, randomStart: true });
  const kns = knsAttack(model, batch, { ...budget, iterations: a.tiny ? 5 : 50, ...knsOptions });
  // one record per image for PGD; one per (image, attacked neuron) for k-NS: here one neuron each
  const fooled = (r: { success: boolean }[]) => r.filter((x) => x.success).length;
  console.log(`PGD fooled ${fooled(pgd.records)}/${n} images, k-NS (one neuron each) ${fooled(kns.records)}/${n}`);
  for (const r of kns.records.slice(0, 5)) {
    console.log(
      `  image ${r.index}: neuron ${r.neuron} (Delta ${r.delta.toFixed(3)}), ` +
        `prediction ${r.cleanPrediction} -> ${r.adversarialPrediction}, L2 ${r.l2.toFixed(3)}`,
    );
  }
  saveNpy(join(a.out!, 'clean.npy'), batch.images);
  saveNpy(join(a.out!, 'pgd.npy'), pgd.adversarial);
  saveNpy(join(a.out!, 'kns.npy'), kns.adversarial);
  return pngGrid([batch.images, pgd.adversarial, kns.adversarial]);
});
await sharp(grid.pixels, { raw: grid.raw }).png().toFile(join(a.out!, 'attacks.png'));
console.log(`wrote clean.npy, pgd.npy, kns.npy and attacks.png in ${a.out}`);
batch.images.dispose();
batch.labels.dispose();
model.dispose();

/** 8-bit pixels of a grid, one row per input and one column per tensor ([B, C, H, W] in [0, 1] each). */
function pngGrid(columns: Tensor[]) {
  const [b, c, h, w] = columns[0]!.shape as [number, number, number, number];
  const pixels = columns.map((t) => t.toFloat32Array());
  const width = w * columns.length;
  const out = Buffer.alloc(b * h * width * c);
  for (let i = 0; i < b; i++)
    for (let k = 0; k < columns.length; k++)
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            const v = pixels[k]![((i * c + ch) * h + y) * w + x]!;
            out[((i * h + y) * width + k * w + x) * c + ch] = Math.round(Math.min(1, Math.max(0, v)) * 255);
          }
      }
  return { pixels: out, raw: { width, height: b * h, channels: c as 1 | 3 } };
}
