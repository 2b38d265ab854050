// `sauron reproduce`: the paper's pipeline end to end. Each step writes into its own folder
// and leaves a marker when complete, so an interrupted run skips finished steps; steps that
// are themselves resumable (training, attacks) continue where they stopped.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDataset, subset } from '../data/registry.js';
import type { ImageDataset } from '../data/dataset.js';
import { loadModel, MANIFEST_FILE } from '../serialization/modelFiles.js';
import type { Device } from '../tensor/device.js';
import { writeFileAtomic } from '../serialization/atomic.js';
import { loadNpy, saveNpyArray } from '../serialization/npy.js';
import { sensitivity } from '../analysis/sensitivity.js';
import { pruningCurve } from '../analysis/pruneCurve.js';
import { runAttack } from '../attacks/run.js';
import { train } from '../training/train.js';
import { DEFAULTS, type TrainConfig } from '../training/config.js';
import { scope } from '../tensor/scope.js';
import type { Progress } from '../training/evaluate.js';
import { MODEL_KINDS, pruningCounts, type ModelKind, type ReproduceSettings } from './settings.js';
import { writeReport } from './report.js';

export interface ReproduceOptions {
  out: string;
  settings: ReproduceSettings;
  /** Use these trained run folders instead of training. */
  models?: Partial<Record<ModelKind, string>>;
  /** The command line that started the run, for the report. */
  command?: string;
  onStep?: (index: number, total: number, title: string, etaSeconds: number | null) => void;
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
  /** Where every step computes (default the default device). */
  device?: Device;
}

interface Step {
  id: string;
  title: string;
  done: () => boolean;
  run: () => Promise<void>;
}

export interface StepTiming {
  id: string;
  title: string;
  seconds: number;
  skipped: boolean;
}

export function modelDir(o: ReproduceOptions, kind: ModelKind): string {
  return o.models?.[kind] ?? join(o.out, 'models', kind);
}

export function trainConfig(s: ReproduceSettings, kind: ModelKind): TrainConfig {
  const d = { ...DEFAULTS[s.dataset]! } as Partial<typeof DEFAULTS[string]>;
  // method-specific settings come only from the model's own overrides
  delete d.adversarial;
  delete d.regularizer;
  return { ...d, method: 'standard', dataset: s.dataset, data: s.data, seed: s.seed, ...s.train[kind] } as TrainConfig;
}

export async function reproduce(o: ReproduceOptions): Promise<{ report: string; timings: StepTiming[] }> {
  const s = o.settings;
  mkdirSync(o.out, { recursive: true });
  const markers = join(o.out, 'steps');
  mkdirSync(markers, { recursive: true });
  const marker = (id: string) => join(markers, `${id}.json`);
  const isDone = (id: string) => existsSync(marker(id));
  const log = o.log ?? (() => {});
  writeFileAtomic(join(o.out, 'settings.json'), JSON.stringify({ settings: s, models: o.models ?? {}, command: o.command }, null, 2) + '\n');

  let testSet: ImageDataset | null = null;
  const test = async () => (testSet ??= await openDataset(s.dataset, 'test', { data: s.data }));
  const statsSets = async () => {
    const t = await test();
    return s.sensitivity.statsSplit === 'test' ? [t] : [await openDataset(s.dataset, 'train', { data: s.data }), t];
  };

  const steps: Step[] = [];
  for (const kind of MODEL_KINDS) {
    const dir = modelDir(o, kind);
    steps.push({
      id: `train-${kind}`, title: `train the ${kind} model`,
      done: () => existsSync(join(dir, MANIFEST_FILE)),
      run: async () => {
        if (o.models?.[kind]) throw new Error(`${dir} (given for ${kind}) is not a finished Sauron run`);
        const resume = existsSync(join(dir, 'config.json'));
        await train(trainConfig(s, kind), { out: dir, resume, force: !resume, log, device: o.device,
          onProgress: (p) => o.onProgress?.({ done: p.done, total: p.total, stats: { epoch: p.epoch, ...p.stats } }) });
      },
    });
  }
  for (const kind of MODEL_KINDS) {
    const dir = join(o.out, 'sensitivity', kind);
    steps.push({
      id: `sensitivity-${kind}`, title: `sensitivity of the ${kind} model`,
      done: () => isDone(`sensitivity-${kind}`),
      run: async () => {
        const { model } = loadModel(modelDir(o, kind), { device: o.device });
        try {
          const t = await test();
          const r = await sensitivity(model, s.sensitivity.limit ? subset(t, { limit: s.sensitivity.limit }) : t, {
            statsSets: await statsSets(), outDir: dir, onProgress: (_ph, p) => o.onProgress?.(p),
          });
          saveNpyArray(join(dir, 'scaled_sample.npy'), r.scaledSample, [r.scaledSample.length], 'float32');
          writeFileAtomic(join(dir, 'summary.json'), JSON.stringify({ count: r.count, featureDim: r.featureDim, accuracy: r.accuracy,
            deadFeatures: r.deadFeatures, mostSensitive: r.mostSensitive, neurons: r.neurons }, null, 2) + '\n');
        } finally {
          model.dispose();
        }
      },
    });
  }
  for (const kind of MODEL_KINDS) {
    for (const norm of ['l2', 'linf'] as const) {
      for (const attack of ['pgd', 'kns'] as const) {
        const id = `attack-${kind}-${norm}-${attack}`;
        const dir = join(o.out, 'attacks', kind, `${norm}-${attack}`);
        steps.push({
          id, title: `${attack === 'pgd' ? 'PGD' : 'k-NS'} ${norm} on the ${kind} model`,
          done: () => existsSync(join(dir, 'results.json')),
          run: async () => {
            const { model } = loadModel(modelDir(o, kind), { device: o.device });
            try {
              const t = await test();
              const eps = s.budgets[norm];
              const limit = attack === 'pgd' ? s.pgd.limit : s.kns.limit;
              const ds = subset(t, { limit: Math.min(limit, t.length) });
              const resume = existsSync(join(dir, 'attack-config.json'));
              if (attack === 'pgd') {
                await runAttack({ model, dataset: ds, out: dir, batchSize: s.batchSize, resume, onProgress: o.onProgress,
                  meta: { model: kind, dataset: s.dataset }, spec: { attack: 'pgd', norm, eps, iterations: s.pgd.iterations,
                    restarts: s.pgd.restarts, randomStart: true, seed: s.seed } });
              } else {
                const sd = join(o.out, 'sensitivity', kind);
                const stats = scope(() => ({ mean: loadNpy(join(sd, 'feature_mean.npy')).toFloat32Array(), std: loadNpy(join(sd, 'feature_std.npy')).toFloat32Array() }));
                const n = s.kns.neurons[s.kns.neurons.length - 1]!;
                await runAttack({ model, dataset: ds, out: dir, batchSize: Math.max(1, Math.floor(s.batchSize / 4)), resume,
                  onProgress: o.onProgress, meta: { model: kind, dataset: s.dataset },
                  spec: { attack: 'kns', norm, eps, iterations: s.kns.iterations, seed: s.seed, neurons: s.kns.neurons, rankStart: 0,
                    rankCount: n, lambda: 10, fakeRelu: model.config.arch.startsWith('resnet'), featureMean: stats.mean, featureStd: stats.std } });
              }
            } finally {
              model.dispose();
            }
          },
        });
      }
    }
  }
  steps.push({
    id: 'pruning', title: 'pruning curves of the standard model',
    done: () => existsSync(join(o.out, 'pruning', 'pruning.csv')),
    run: async () => {
      const { model } = loadModel(modelDir(o, 'standard'), { device: o.device });
      try {
        const ranking = JSON.parse(readFileSync(join(o.out, 'sensitivity', 'standard', 'summary.json'), 'utf8')).mostSensitive as number[];
        await pruningCurve(model, ranking, pruningCounts(model.featureDim, s.pruning.steps), await test(), {
          out: join(o.out, 'pruning'), seed: s.seed, limit: s.pruning.limit, attackLimit: s.pruning.attackLimit,
          attackSteps: s.pruning.attackSteps, attackEps: s.budgets.l2, onProgress: o.onProgress,
        });
      } finally {
        model.dispose();
      }
    },
  });

  const timings: StepTiming[] = [];
  const started = performance.now();
  // ETA: each remaining step is expected to take as long as the finished steps of its kind
  // (train, sensitivity, attack, pruning) took on average; no estimate until every remaining
  // kind has been timed once (a training step says little about an attack step).
  const spent = new Map<string, { seconds: number; count: number }>();
  const kindOf = (id: string) => id.split('-')[0]!;
  const eta = (rest: Step[]): number | null => {
    if (rest.some((st) => !spent.has(kindOf(st.id)))) return null;
    return rest.reduce((sum, st) => {
      const k = spent.get(kindOf(st.id))!;
      return sum + k.seconds / k.count;
    }, 0);
  };
  for (let i = 0; i < steps.length; i++) {
    const st = steps[i]!;
    if (st.done()) {
      const prev = existsSync(marker(st.id)) ? JSON.parse(readFileSync(marker(st.id), 'utf8')).seconds as number : 0;
      timings.push({ id: st.id, title: st.title, seconds: prev, skipped: true });
      continue;
    }
    o.onStep?.(i + 1, steps.length, st.title, eta(steps.slice(i).filter((x) => !x.done())));
    const t0 = performance.now();
    await st.run();
    const sec = (performance.now() - t0) / 1000;
    const k = spent.get(kindOf(st.id)) ?? { seconds: 0, count: 0 };
    spent.set(kindOf(st.id), { seconds: k.seconds + sec, count: k.count + 1 });
    writeFileAtomic(marker(st.id), JSON.stringify({ id: st.id, seconds: sec, finished: new Date().toISOString() }) + '\n');
    timings.push({ id: st.id, title: st.title, seconds: sec, skipped: false });
    log(`${st.title}: done in ${sec.toFixed(1)} s`);
  }
  const report = await writeReport(o, timings, (performance.now() - started) / 1000);
  return { report, timings };
}
