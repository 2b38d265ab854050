// The report's gallery: the first few test inputs of each model, clean and after PGD and 1-NS
// (the attack on the input's most sensitive neuron; Table 1's L2 budget and
// iterations, one restart), with the predictions. Computed when the report is written: a few
// inputs per model, so it costs seconds, and it needs no examples saved by the attack steps.
import { loadModel } from '../models/runFolder.js';
import { openDataset } from '../data/registry.js';
import { scope } from '../tensor/scope.js';
import { noGrad } from '../tensor/autograd.js';
import { withEval } from '../nn/module.js';
import { pgdAttack } from '../attacks/pgd.js';
import { knsAttack } from '../attacks/kns.js';
import { resolveFakeRelu } from '../attacks/defaults.js';
import { readFeatureStats } from '../analysis/sensitivityFiles.js';
import { imagePng } from '../reports/images.js';
import { MODEL_KINDS, MODEL_TITLES, type ModelKind } from './settings.js';
import { layout } from './layout.js';
import type { ReproduceOptions } from './pipeline.js';

export interface GalleryImage {
  png: Buffer;
  prediction: string;
  success: boolean;
}

export interface GalleryRow {
  kind: ModelKind;
  index: number;
  label: string;
  clean: GalleryImage;
  pgd: GalleryImage;
  kns: GalleryImage & { neuron: number };
}

export async function galleryRows(o: ReproduceOptions, perModel = 3): Promise<GalleryRow[]> {
  const s = o.settings;
  const ds = await openDataset(s.dataset, 'test', { data: s.data, limit: perModel });
  const batch = await ds.load(Array.from({ length: ds.length }, (_, i) => i));
  const names = ds.classNames;
  const rows: GalleryRow[] = [];
  try {
    for (const kind of MODEL_KINDS) {
      const { model } = loadModel(layout.model(o, kind), { device: o.device });
      try {
        const stats = readFeatureStats(layout.sensitivity(o.out, kind));
        const shape = batch.images.shape.slice(1);
        const found = scope(() => {
          const images = batch.images.to(model.device);
          const b = { images, labels: batch.labels.to(model.device), indices: batch.indices };
          const clean = withEval(model, () => noGrad(() => model.forward(images)))
            .logits.argmax(1)
            .toNumbers();
          const budget = { norm: 'l2' as const, eps: s.budgets.l2, seed: s.seed };
          const pgd = pgdAttack(model, b, { ...budget, iterations: s.pgd.iterations, restarts: 1, randomStart: true });
          const kns = knsAttack(model, b, {
            ...budget,
            iterations: s.kns.iterations,
            rankCount: 1,
            fakeRelu: resolveFakeRelu('auto', model.config.arch),
            featureMean: stats.mean,
            featureStd: stats.std,
          });
          return {
            clean,
            pgd: pgd.records,
            pgdX: pgd.adversarial.toFloat32Array(),
            kns: kns.records,
            knsX: kns.adversarial.toFloat32Array(),
            cleanX: batch.images.toFloat32Array(),
          };
        });
        const size = shape.reduce((a, b) => a * b, 1);
        const png = (x: Float32Array, i: number) => imagePng(x.subarray(i * size, (i + 1) * size), shape);
        for (let i = 0; i < ds.length; i++) {
          const p = found.pgd[i]!;
          const k = found.kns[i]!;
          rows.push({
            kind,
            index: batch.indices[i]!,
            label: names[p.label] ?? String(p.label),
            clean: { png: await png(found.cleanX, i), prediction: names[found.clean[i]!]!, success: false },
            pgd: { png: await png(found.pgdX, i), prediction: names[p.adversarialPrediction]!, success: p.success },
            kns: { png: await png(found.knsX, i), prediction: names[k.adversarialPrediction]!, success: k.success, neuron: k.neuron },
          });
        }
      } finally {
        model.dispose();
      }
    }
  } finally {
    batch.images.dispose();
    batch.labels.dispose();
  }
  return rows;
}

/** The Markdown lines (predictions only) and the HTML table (with the images inlined). */
export function galleryMarkdown(rows: GalleryRow[]): string[] {
  const mark = (g: GalleryImage) => `${g.prediction}${g.success ? ' (fooled)' : ''}`;
  return [
    '| model | input | label | clean prediction | L2 PGD | L2 1-NS (neuron) |',
    '|---|---:|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${MODEL_TITLES[r.kind]} | ${r.index} | ${r.label} | ${r.clean.prediction} | ${mark(r.pgd)} | ${mark(r.kns)} (${r.kns.neuron}) |`,
    ),
    '',
  ];
}

export function galleryHtml(rows: GalleryRow[], esc: (s: string) => string): string {
  const cell = (g: GalleryImage, what: string) =>
    `<td class="g"><img class="gallery" alt="${esc(what)}" src="data:image/png;base64,${g.png.toString('base64')}">` +
    `<br>${esc(g.prediction)}${g.success ? ' <b>(fooled)</b>' : ''}</td>`;
  return [
    '<table class="gallery">',
    '<tr><th>model</th><th>input</th><th>clean</th><th>L2 PGD</th><th>L2 1-NS</th></tr>',
    ...rows.map(
      (r) =>
        `<tr><td>${esc(MODEL_TITLES[r.kind])}</td><td>${r.index} (${esc(r.label)})</td>` +
        `${cell(r.clean, 'clean')}${cell(r.pgd, 'PGD')}${cell(r.kns, `1-NS, neuron ${r.kns.neuron}`)}</tr>`,
    ),
    '</table>',
  ].join('\n');
}
