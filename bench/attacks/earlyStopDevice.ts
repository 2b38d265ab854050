// Early stopping on a device whose arithmetic may depend on the batch (a GPU's kernel choice):
// the paper's PGD protocol on the first test inputs of the default model, run as the full
// protocol with all restarts in one batch and with fewer (--split) per batch, and early-stopped;
// with TF32 at its default and off. Each variant's
// success is compared input by input with the first (full, all restarts at once): if the full
// protocol at another batch size moves as many inputs as early stopping does, the moves are
// the arithmetic's, not the protocol's. Also how far past the decision boundary the fooled
// inputs' returned examples lie, judged by the model as given: early stopping returns the first
// fooling iterate, the full protocol the highest-loss one. Prints a Markdown table (--out writes it).
//   node --import tsx bench/attacks/earlyStopDevice.ts --device cuda [--model runs/fm-standard] [--limit 1000] [--batch 128]
//     [--split 1] [--precision fp32|bf16]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, noGrad, resolveDevice, scope, type ImageClassifier, type Precision, type Tensor } from '../../src/index.js';
import { setAllowTF32, setDefaultDevice, setDeterministic, isCuda } from '../../src/tensor/index.js';
import type { PgdConfig } from '../../src/attacks/pgd.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { BUDGETS } from '../../src/reproduce/settings.js';
import { pgdInBatches } from './pgdInBatches.js';
import { tableRow } from '../shared/report.js';
import { ROOT } from '../shared/sauron.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: join(ROOT, 'runs', 'fm-standard') },
    limit: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '128' },
    iterations: { type: 'string', default: '100' },
    restarts: { type: 'string', default: '20' },
    device: { type: 'string', default: 'cpu' },
    out: { type: 'string' },
    norms: { type: 'string', default: 'l2,linf' },
    split: { type: 'string', default: '1' },
    precision: { type: 'string', default: 'fp32' },
  },
});
const device = resolveDevice(a.device);
setDefaultDevice(device);
if (isCuda(device)) setDeterministic(true);
const restarts = Number(a.restarts);
const batchSize = Number(a.batch);

// margin: the returned example's clean-class logit minus its best other logit, judged by the
// model as given (negative: fooled); how far past the boundary a fooled input's example lies
function run(model: ImageClassifier, images: Tensor, cfg: PgdConfig): { seconds: number; success: boolean[]; margins: number[] } {
  const margins: number[] = [];
  const r = pgdInBatches(model, images, batchSize, cfg, (out, b) =>
    noGrad(() => {
      const m = b.labels.shape[0]!;
      const logits = model.forward(out.adversarial).logits;
      const goal = logits.gather(1, b.labels.view([m, 1]));
      const others = logits
        .scatter(1, b.labels.view([m, 1]), -Infinity)
        .maxDim(1)
        .values.view([m, 1]);
      margins.push(...goal.sub(others).view([m]).toNumbers());
    }),
  );
  return { ...r, margins };
}

const variants: { name: string; cfg: Partial<PgdConfig> }[] = [
  { name: `full, ${restarts} restarts per batch`, cfg: { earlyStop: false, restartBatch: restarts } },
  { name: `full, ${a.split} restarts per batch`, cfg: { earlyStop: false, restartBatch: Number(a.split) } },
  { name: 'early stop', cfg: { earlyStop: true, restartBatch: restarts } },
];
const rows: string[] = [];
const quantile = (v: number[], q: number) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};
const model = loadModel(a.model!).model.eval();
scope(() => {
  const images = loadFashionMnist('test')
    .loadSync(Array.from({ length: Number(a.limit) }, (_, i) => i))
    .images.to(device);
  run(model, images.narrow(0, 0, Math.min(8, images.shape[0]!)), {
    norm: 'l2',
    eps: 0.3,
    iterations: 2,
    restarts: 2,
    randomStart: true,
    seed: 0,
  }); // warm-up
  for (const tf32 of isCuda(device) ? [true, false] : [true]) {
    setAllowTF32({ matmul: false, cudnn: tf32 }); // PyTorch's defaults: TF32 in convolutions only
    for (const norm of a.norms!.split(',') as ('l2' | 'linf')[]) {
      const eps = BUDGETS['fashion-mnist']![norm];
      const base: PgdConfig = {
        norm,
        eps,
        iterations: Number(a.iterations),
        restarts,
        randomStart: true,
        seed: 0,
        precision: a.precision as Precision,
      };
      let ref: boolean[] | null = null;
      for (const v of variants) {
        const r = run(model, images, { ...base, ...v.cfg });
        ref ??= r.success;
        const gained = r.success.filter((s, i) => s && !ref![i]).length;
        const lost = r.success.filter((s, i) => !s && ref![i]).length;
        const pct = (100 * r.success.filter(Boolean).length) / r.success.length;
        // how far past the boundary each fooled input's example lies
        const fm = r.margins.filter((_, i) => r.success[i]).map((x) => -x);
        rows.push(
          tableRow([
            isCuda(device) ? (tf32 ? 'default (convolutions)' : 'off') : 'CPU',
            a.precision!,
            `${norm === 'l2' ? 'L2' : 'Linf'} ${eps}`,
            v.name,
            r.seconds.toFixed(1),
            pct.toFixed(1),
            `+${gained} / -${lost}`,
            fm.filter((x) => x < 1e-3).length,
            quantile(fm, 0.5).toPrecision(2),
          ]),
        );
        console.log(rows[rows.length - 1]);
      }
    }
  }
});
model.dispose();
const head = [
  'TF32',
  'precision',
  'budget',
  'protocol',
  'seconds',
  'success (%)',
  'inputs fooled / unfooled against the first row',
  'fooled with margin < 0.001',
  'median margin of the fooled',
];
const table = `${tableRow(head)}
|---|---|---|---|---:|---:|---|---:|---:|
${rows.join('\n')}
`;
console.log(table);
if (a.out) writeFileSync(a.out, table);
