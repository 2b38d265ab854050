import { join } from 'node:path';
import { writeSensitivitySummary } from '../analysis/sensitivityFiles.js';
import { lockOutput, writeOutput } from '../serialization/outputDir.js';
import { Command, Option } from 'commander';
import { openDataset, parseIndices } from '../data/registry.js';
import type { ImageDataset } from '../data/dataset.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { sensitivity, type SensitivityResult } from '../analysis/sensitivity.js';
import { innerDelta } from '../analysis/innerDelta.js';
import { batches } from '../data/loader.js';
import { saveNpyArray } from '../serialization/npy.js';
import { mkdirSync } from 'node:fs';
import { sensitivityFigures } from '../analysis/sensitivityFigures.js';
import { addProcessGroupOptions, joinProcessGroup, nonNegativeNumber, positiveInt } from './options.js';
import { fromRoot } from '../tensor/collectives.js';
import { ProgressBar } from './progressDisplay.js';
import { modelDataOptions, openModelData, torchScriptRecord, type ModelDataCli } from './modelDataOptions.js';
import { MODEL, OUTPUT } from './helpGroups.js';

interface SensCli extends ModelDataCli {
  statsSplit: 'train+test' | 'train' | 'test';
  topK: number;
  eps: number;
  batchSize: number;
  compare?: string[];
  out: string;
  layer?: string;
  units?: string;
  backend: string;
  distTimeout: number;
}

export function sensitivityCommand(): Command {
  return addProcessGroupOptions(
    modelDataOptions(
      new Command('sensitivity')
        .summary('Delta of every feature neuron for every input: rankings, summaries, figures')
        .description(
          'Delta(i, x) of every feature neuron i for every input x (the smallest change of the neuron that flips ' +
            'the prediction), feature statistics, scaled values, per-input rankings, per-neuron summaries and figures. ' +
            'Started as several ranks (sauron launch, torchrun --no-python), the ranks take turns at the batches and rank 0 ' +
            'writes exactly the files one process writes.',
        ),
      '',
      'inputs',
    ),
  )
    .optionsGroup(MODEL)
    .option('--compare <runs...>', 'other models to overlay in the figures (same data)')
    .optionsGroup('Analysis:')
    .addOption(
      new Option('--stats-split <which>', 'inputs the feature mean/std are computed over (the reference uses train+test)')
        .choices(['train+test', 'train', 'test'])
        .default('train+test'),
    )
    .option('--top-k <k>', "count how often each neuron is among an input's k most sensitive", positiveInt('--top-k'), 16)
    .option('--eps <x>', 'eps in (Delta - mean) / (std + eps)', nonNegativeNumber('--eps'), 1e-10)
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'), 256)
    .option(
      '--layer <name>',
      'an inner layer (e.g. features.9, layer3): Delta of its units found numerically ' +
        '(bracketing + bisection, both signs) instead of the closed form of the penultimate layer',
    )
    .option('--units <list>', 'with --layer: these flat unit indices only, e.g. 0-99 (default all)')
    .optionsGroup(OUTPUT)
    .requiredOption('--out <dir>', 'folder to write results into')
    .action(async (o: SensCli) => {
      const group = joinProcessGroup(o);
      try {
        await sensitivityAction(o, group.rank, group.worldSize);
      } finally {
        group.leave();
      }
    });
}

async function sensitivityAction(o: SensCli, rank: number, world: number): Promise<void> {
  if (o.layer && o.layer !== 'penultimate') {
    if (world > 1) throw new Error('--layer runs in one process (launch it without several ranks)');
    return innerLayer(o);
  }
  const bar = new ProgressBar();
  const lead = rank === 0;
  const runOne = async (runDir: string, outDir?: string): Promise<{ name: string; result: SensitivityResult }> => {
    const { name, ds, model, manifest } = await openModelData(o, runDir);
    // the main model's TorchScript options as used (found classifier included), in the folder's settings
    if (outDir) Object.assign(settings, torchScriptRecord(model));
    try {
      const statsSets: ImageDataset[] = [];
      for (const s of o.statsSplit === 'train+test' ? (['train', 'test'] as const) : [o.statsSplit]) {
        statsSets.push(s === o.split && !o.limit && !o.indices ? ds : await openDataset(name, s, { data: o.data, classes: o.classes }));
      }
      let phase = '';
      const result = await sensitivity(model, ds, {
        statsSets,
        eps: o.eps,
        topK: o.topK,
        batchSize: o.batchSize,
        outDir,
        acrossRanks: world > 1,
        onProgress: (ph, p) => {
          if (!lead) return;
          if (ph !== phase) {
            phase = ph;
            bar.start(`${runDir}: ${ph}`);
          }
          bar.update(p.done, p.total, p.stats);
        },
      });
      bar.finish();
      return { name: (manifest.method as string | undefined) ? `${runDir} (${String(manifest.method)})` : runDir, result };
    } finally {
      model.dispose();
    }
  };
  // Written into a staging folder and swapped in when complete: a run that fails or is
  // killed leaves the folder's earlier result whole, never a mix of the two.
  const settings = {
    model: o.model,
    dataset: o.dataset,
    classes: o.classes,
    split: o.split,
    limit: o.limit,
    indices: o.indices,
    statsSplit: o.statsSplit,
    eps: o.eps,
    topK: o.topK,
    compare: o.compare,
  };
  if (!lead) {
    // the same models in the same order as rank 0, which writes
    await fromRoot(() => true);
    for (const m of [o.model, ...(o.compare ?? [])]) await runOne(m);
    return;
  }
  // the other ranks wait for the folder's lock: if it is refused, they hear why
  const lock = await fromRoot(() => lockOutput(o.out, `sauron ${process.argv.slice(2).join(' ')}`));
  try {
    const r = await writeOutput(
      o.out,
      { kind: 'sensitivity', command: `sauron ${process.argv.slice(2).join(' ')}`, settings },
      async (out) => {
        const main = await runOne(o.model, out);
        const others = [];
        for (const c of o.compare ?? []) others.push(await runOne(c));
        const all = [main, ...others];
        // legend entries must differ even when a model is compared with itself
        all.forEach((x, i) => {
          if (all.findIndex((y) => y.name === x.name) < i) x.name = `${x.name} #${i + 1}`;
        });
        const figures = await sensitivityFigures(out, all);
        writeSensitivitySummary(out, main.result, {
          model: o.model,
          dataset: o.dataset,
          split: o.split,
          statsSplit: o.statsSplit,
          eps: o.eps,
          topK: o.topK,
          compare: others.map((x) => ({ model: x.name, accuracy: x.result.accuracy, deadFeatures: x.result.deadFeatures })),
          files: [
            'deltas.npy',
            'features.npy',
            'logits.npy',
            'labels.npy',
            'predictions.npy',
            'ranking.npy',
            'feature_mean.npy',
            'feature_std.npy',
            ...figures,
          ],
        });
        return main.result;
      },
    );
    console.log(
      JSON.stringify({
        out: o.out,
        count: r.count,
        featureDim: r.featureDim,
        accuracy: r.accuracy,
        deadFeatures: r.deadFeatures,
        mostSensitive: r.mostSensitive.slice(0, 10),
      }),
    );
  } finally {
    lock.release();
  }
}

/** --layer: numeric Delta for an inner layer's units, written as inner-deltas.npy [units, inputs]. */
async function innerLayer(o: SensCli): Promise<void> {
  const { ds, model } = await openModelData(o);
  const lock = lockOutput(o.out, 'sauron sensitivity --layer');
  try {
    const units = o.units ? parseIndices(o.units, { option: '--units' }) : undefined;
    const cols: Float32Array[] = [];
    let unitList: number[] = [];
    const bar = new ProgressBar();
    bar.start(`inner Delta of ${o.layer}`);
    const total = Math.ceil(ds.length / o.batchSize);
    for await (const b of batches(ds, { batchSize: o.batchSize, device: model.device })) {
      const r = innerDelta(model, b.images, o.layer!, { units });
      b.images.dispose();
      b.labels.dispose();
      unitList = r.units;
      cols.push(r.deltas);
      bar.update(b.batch + 1, total);
    }
    bar.finish();
    // each batch's block is [units, batch]; the file is [units, inputs]
    const n = ds.length;
    const u = unitList.length;
    const all = new Float32Array(u * n);
    let col = 0;
    for (const block of cols) {
      const w = block.length / u;
      for (let k = 0; k < u; k++) all.set(block.subarray(k * w, (k + 1) * w), k * n + col);
      col += w;
    }
    mkdirSync(o.out, { recursive: true });
    saveNpyArray(join(o.out, 'inner-deltas.npy'), all, [u, n], 'float32');
    saveNpyArray(join(o.out, 'inner-units.npy'), BigInt64Array.from(unitList, BigInt), [u], 'int64');
    const finite = all.filter((v) => Number.isFinite(v));
    writeFileAtomic(
      join(o.out, 'inner-summary.json'),
      `${JSON.stringify(
        {
          model: o.model,
          layer: o.layer,
          count: n,
          units: u,
          finiteRate: finite.length / all.length,
          medianAbsDelta: finite.length ? [...finite].map(Math.abs).sort((a, b) => a - b)[finite.length >> 1] : null,
        },
        null,
        2,
      )}\n`,
    );
    console.log(JSON.stringify({ out: o.out, layer: o.layer, count: n, units: u, finiteRate: finite.length / all.length }));
  } finally {
    model.dispose();
    lock.release();
  }
}
