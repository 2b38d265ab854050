// `sauron reproduce`: the paper's pipeline end to end. Each step writes into its own folder
// and leaves a marker when complete, so an interrupted run skips finished steps; steps that
// are themselves resumable (training, attacks) continue where they stopped.
import { readSensitivitySummary, writeSensitivitySummary } from '../analysis/sensitivityFiles.js';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDataset, subset } from '../data/registry.js';
import type { ImageDataset } from '../data/dataset.js';
import { loadModel, MANIFEST_FILE } from '../models/runFolder.js';
import type { Device } from '../tensor/device.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { writeOutput } from '../serialization/outputDir.js';
import { saveNpyArray } from '../serialization/npy.js';
import { sensitivity } from '../analysis/sensitivity.js';
import { pruningCurve } from '../experiments/pruningCurve.js';
import { train } from '../training/train.js';
import { DEFAULTS, type TrainConfig } from '../training/config.js';
import type { Progress } from '../progress.js';
import { MODEL_KINDS, pruningCounts, type ModelKind, type ReproduceSettings } from './settings.js';
import { writeReport } from './report.js';
import { layout } from './layout.js';
import { runSteps, stepDone, type Step, type StepTiming } from '../experiments/steps.js';
import { attackSteps } from './attackSteps.js';

/**
 * Options of {@link reproduce}: the output folder, the settings ({@link reproduceSettings}) and progress callbacks.
 */
export interface ReproduceOptions {
  out: string;
  settings: ReproduceSettings;
  /** Use these trained run folders instead of training. */
  models?: Partial<Record<ModelKind, string>>;
  /** The command line that started the run, for the report. */
  command?: string;
  /** Called as each step starts: its position, the step count, its title and the estimated seconds left (null until known). */
  onStep?: (index: number, total: number, title: string, etaSeconds: number | null) => void;
  /** The running step's progress. */
  onProgress?: (p: Progress) => void;
  /** Receives the steps' log lines. */
  log?: (line: string) => void;
  /** Where every step computes (default the default device). */
  device?: Device;
  /**
   * Run only the steps whose id starts with one of these (e.g. 'train', 'attack-standard'),
   * and write no report: to train on one machine and analyse on another, or to run steps in
   * parallel processes over one folder.
   */
  only?: string[];
}

export type { StepTiming };

export function trainConfig(s: ReproduceSettings, kind: ModelKind): TrainConfig {
  const d = { ...DEFAULTS[s.dataset]! } as Partial<(typeof DEFAULTS)[string]>;
  // method-specific settings come only from the model's own overrides
  delete d.adversarial;
  delete d.regularizer;
  delete d.sensitivity;
  return { ...d, method: 'standard', dataset: s.dataset, data: s.data, seed: s.seed, ...s.train[kind] } as TrainConfig;
}

/**
 * The paper's pipeline into `o.out`, as resumable steps: train the four models (`MODEL_KINDS`:
 * standard, L2 and Linf PGD-trained, sensitivity-trained) unless `o.models` names run folders;
 * each model's sensitivity (Delta(i, x) of every feature neuron on the test inputs); PGD and
 * k-NS under L2 and Linf on the first `settings.inputs` test inputs (Table 1, Figure 2's rank-r
 * success); AutoAttack under L2 and Linf on the first `settings.autoattack.inputs` of them
 * (Table 1's robust accuracy); the budget sweep (PGD and 1-NS at each eps); the standard model's
 * pruning curves; then table1.csv/.md, sweep.csv, the figures, report.md and report.html. A rerun skips
 * finished steps; an interrupted training or attack continues where it stopped.
 *
 * - `o.settings`: from `reproduceSettings(dataset, quick, seed)`. Budgets (`settings.budgets`)
 *   are in the norm's units on pixels in [0, 1]; `settings.kns.neurons` holds the k of the
 *   k-NS columns (1, 4, 8, 16); rates in the outputs are fractions in [0, 1] (percent in the
 *   Markdown and CSV tables).
 * - Returns report.html's path (null with `o.only`, which runs the matching steps and writes
 *   no report) and each step's seconds.
 *
 * @example
 * const { report } = await reproduce({ out: 'runs/quick', settings: reproduceSettings('fashion-mnist', true), log: console.log });
 * // runs/quick/table1.csv: model, clean accuracy, L2 PGD, L2 1-NS, ... L2 16-NS, Linf PGD, Linf 1-NS, ...,
 * // L2 and Linf AutoAttack robust accuracy (percent), the checks each AutoAttack run fired
 */
export async function reproduce(o: ReproduceOptions): Promise<{ report: string | null; timings: StepTiming[] }> {
  const s = o.settings;
  mkdirSync(o.out, { recursive: true });
  const log = o.log ?? (() => {});
  writeFileAtomic(layout.settings(o.out), `${JSON.stringify({ settings: s, models: o.models ?? {}, command: o.command }, null, 2)}\n`);

  let testSet: ImageDataset | null = null;
  const test = async () => (testSet ??= await openDataset(s.dataset, 'test', { data: s.data }));
  const statsSets = async () => {
    const t = await test();
    return s.sensitivity.statsSplit === 'test' ? [t] : [await openDataset(s.dataset, 'train', { data: s.data }), t];
  };

  const steps: Step[] = [];
  for (const kind of MODEL_KINDS) {
    const dir = layout.model(o, kind);
    steps.push({
      id: `train-${kind}`,
      title: `train the ${kind} model`,
      done: () => existsSync(join(dir, MANIFEST_FILE)),
      run: async () => {
        if (o.models?.[kind]) throw new Error(`${dir} (given for ${kind}) is not a finished Sauron run`);
        const resume = existsSync(join(dir, 'config.json'));
        await train(trainConfig(s, kind), {
          out: dir,
          resume,
          force: !resume,
          log,
          device: o.device,
          onProgress: (p) => o.onProgress?.({ done: p.done, total: p.total, stats: { epoch: p.epoch, ...p.stats } }),
        });
      },
    });
  }
  for (const kind of MODEL_KINDS) {
    const dir = layout.sensitivity(o.out, kind);
    steps.push({
      id: `sensitivity-${kind}`,
      title: `sensitivity of the ${kind} model`,
      done: () => stepDone(layout.steps(o.out), `sensitivity-${kind}`),
      // staged: an interrupted step leaves no arrays of a half-done run behind
      run: () =>
        writeOutput(
          dir,
          { kind: 'sensitivity', command: `reproduce: sensitivity of the ${kind} model`, settings: s.sensitivity },
          async (stage) => {
            const { model } = loadModel(layout.model(o, kind), { device: o.device });
            try {
              const t = await test();
              const r = await sensitivity(model, s.sensitivity.limit ? subset(t, { limit: s.sensitivity.limit }) : t, {
                statsSets: await statsSets(),
                outDir: stage,
                onProgress: (_ph, p) => o.onProgress?.(p),
              });
              saveNpyArray(join(stage, basename(layout.scaledSample(o.out, kind))), r.scaledSample, [r.scaledSample.length], 'float32');
              writeSensitivitySummary(stage, r, { model: kind, dataset: s.dataset, split: 'test', statsSplit: s.sensitivity.statsSplit });
            } finally {
              model.dispose();
            }
          },
        ),
    });
  }
  const firstTest = async (n: number) => {
    const t = await test();
    return subset(t, { limit: Math.min(n, t.length) });
  };
  steps.push(...attackSteps(o, firstTest));
  steps.push({
    id: 'pruning',
    title: 'pruning curves of the standard model',
    done: () => existsSync(layout.pruningCsv(o.out)),
    // staged: the step is done when pruning.csv exists, so it must never appear without the figures
    run: () =>
      writeOutput(layout.pruning(o.out), { kind: 'pruning', command: 'reproduce: pruning curves', settings: s.pruning }, async (stage) => {
        const { model } = loadModel(layout.model(o, 'standard'), { device: o.device });
        try {
          const ranking = readSensitivitySummary(layout.sensitivity(o.out, 'standard')).mostSensitive;
          await pruningCurve(model, ranking, pruningCounts(model.featureDim, s.pruning.steps), await test(), {
            out: stage,
            seed: s.seed,
            limit: s.pruning.limit,
            attackLimit: s.pruning.attackLimit,
            attackSteps: s.pruning.attackSteps,
            attackEps: s.budgets.l2,
            onProgress: o.onProgress,
          });
        } finally {
          model.dispose();
        }
      }),
  });

  const started = performance.now();
  if (o.only) {
    const chosen = steps.filter((st) => o.only!.some((p) => st.id === p || st.id.startsWith(`${p}-`)));
    if (!chosen.length) throw new Error(`--only ${o.only.join(',')} matches no step (steps: ${steps.map((st) => st.id).join(', ')})`);
    return { report: null, timings: await runSteps(chosen, { markers: layout.steps(o.out), onStep: o.onStep, log }) };
  }
  const timings = await runSteps(steps, { markers: layout.steps(o.out), onStep: o.onStep, log });
  const report = await writeReport(o, timings, (performance.now() - started) / 1000);
  return { report, timings };
}
