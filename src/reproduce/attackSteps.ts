// Table 1's attack steps of `sauron reproduce`: PGD and k-NS under L2 and Linf on every model,
// AutoAttack under both norms, and the budget sweep; each resumable, each on the first test
// inputs so that the columns compare like with like.
import type { ImageDataset } from '../data/dataset.js';
import { readFeatureStats } from '../analysis/sensitivityFiles.js';
import { existsSync } from 'node:fs';
import { ATTACK_DEFAULTS, defaultFakeRelu } from '../attacks/defaults.js';
import type { Norm } from '../attacks/budget.js';
import { loadModel } from '../models/runFolder.js';
import type { Device } from '../tensor/device.js';
import type { Progress } from '../progress.js';
import { runAttack, type AttackSpec } from '../experiments/attackRun.js';
import { runAutoAttack } from '../experiments/autoAttackRun.js';
import { attackResultsPath, hasAttackState } from '../experiments/attackFolder.js';
import { stepDone, type Step } from '../experiments/steps.js';
import { MODEL_KINDS, type ModelKind, type ReproduceSettings } from './settings.js';
import { layout } from './layout.js';

/** What the attack steps need of the pipeline's options. */
export interface AttackStepOptions {
  out: string;
  settings: ReproduceSettings;
  models?: Partial<Record<ModelKind, string>>;
  device?: Device;
  onProgress?: (p: Progress) => void;
}

/** The attack and sweep steps; `firstTest(n)` gives the first n test inputs. */
export function attackSteps(o: AttackStepOptions, firstTest: (n: number) => Promise<ImageDataset>): Step[] {
  const s = o.settings;
  const steps: Step[] = [];
  const knsSpec = (
    kind: ModelKind,
    model: { config: { arch: string } },
    norm: Norm,
    eps: number,
    neurons: number[],
    rankCount: number,
  ): AttackSpec => {
    const stats = readFeatureStats(layout.sensitivity(o.out, kind));
    return {
      attack: 'kns',
      norm,
      eps,
      iterations: s.kns.iterations,
      seed: s.seed,
      neurons,
      rankStart: 0,
      rankCount,
      lambda: ATTACK_DEFAULTS.kns.lambda,
      fakeRelu: defaultFakeRelu(model.config.arch),
      featureMean: stats.mean,
      featureStd: stats.std,
    };
  };
  const pgdSpec = (norm: Norm, eps: number): AttackSpec => ({
    attack: 'pgd',
    norm,
    eps,
    iterations: s.pgd.iterations,
    restarts: s.pgd.restarts,
    randomStart: true,
    seed: s.seed,
  });
  // k-NS rows are inputs x ranks: a quarter of the inputs per batch keeps the rows in bounds
  const knsBatch = Math.max(1, Math.floor(s.batchSize / 4));
  for (const kind of MODEL_KINDS) {
    for (const norm of ['l2', 'linf'] as const) {
      for (const attack of ['pgd', 'kns'] as const) {
        const id = `attack-${kind}-${norm}-${attack}`;
        const dir = layout.attack(o.out, kind, norm, attack);
        steps.push({
          id,
          title: `${attack === 'pgd' ? 'PGD' : 'k-NS'} ${norm} on the ${kind} model`,
          done: () => existsSync(layout.attackResults(o.out, kind, norm, attack)),
          run: async () => {
            const { model } = loadModel(layout.model(o, kind), { device: o.device });
            try {
              const eps = s.budgets[norm];
              const resume = hasAttackState(dir);
              const ranks = Math.max(s.kns.ranks, s.kns.neurons[s.kns.neurons.length - 1]!);
              // every attack of Table 1 runs on the same inputs, so its columns compare like with like
              await runAttack({
                model,
                dataset: await firstTest(s.inputs),
                out: dir,
                resume,
                onProgress: o.onProgress,
                figures: false,
                meta: { model: kind, dataset: s.dataset },
                batchSize: attack === 'pgd' ? s.batchSize : knsBatch,
                spec:
                  attack === 'pgd' ? pgdSpec(norm, eps) : knsSpec(kind, model, norm, eps, s.kns.neurons, Math.min(ranks, model.featureDim)),
              });
            } finally {
              model.dispose();
            }
          },
        });
      }
    }
  }
  for (const kind of MODEL_KINDS) {
    for (const norm of ['l2', 'linf'] as const) {
      const id = `attack-${kind}-${norm}-autoattack`;
      const dir = layout.attack(o.out, kind, norm, 'autoattack');
      steps.push({
        id,
        title: `AutoAttack ${norm} on the ${kind} model`,
        done: () => existsSync(layout.attackResults(o.out, kind, norm, 'autoattack')),
        run: async () => {
          const { model } = loadModel(layout.model(o, kind), { device: o.device });
          try {
            const a = s.autoattack;
            // Table 1's first inputs against their true labels (RobustBench's convention)
            await runAutoAttack({
              model,
              dataset: await firstTest(Math.min(a.inputs, s.inputs)),
              out: dir,
              resume: hasAttackState(dir),
              onProgress: o.onProgress,
              meta: { model: kind, dataset: s.dataset },
              batchSize: s.batchSize,
              spec: {
                attack: 'autoattack',
                version: a.version,
                ...(a.attacks ? { attacks: a.attacks } : {}),
                norm,
                eps: s.budgets[norm],
                seed: s.seed,
              },
            });
          } finally {
            model.dispose();
          }
        },
      });
    }
  }
  for (const kind of MODEL_KINDS) {
    for (const norm of ['l2', 'linf'] as const) {
      const id = `sweep-${kind}-${norm}`;
      steps.push({
        id,
        title: `${norm} budget sweep on the ${kind} model`,
        done: () => stepDone(layout.steps(o.out), id),
        run: async () => {
          const { model } = loadModel(layout.model(o, kind), { device: o.device });
          try {
            const ds = await firstTest(s.sweep.inputs);
            for (const eps of s.sweep[norm]) {
              for (const attack of ['pgd', 'kns'] as const) {
                const dir = layout.sweep(o.out, kind, norm, eps, attack);
                if (existsSync(attackResultsPath(dir))) continue;
                await runAttack({
                  model,
                  dataset: ds,
                  out: dir,
                  resume: hasAttackState(dir),
                  onProgress: o.onProgress,
                  figures: false,
                  meta: { model: kind, dataset: s.dataset },
                  batchSize: attack === 'pgd' ? s.batchSize : knsBatch,
                  spec: attack === 'pgd' ? pgdSpec(norm, eps) : knsSpec(kind, model, norm, eps, [1], 1),
                });
              }
            }
          } finally {
            model.dispose();
          }
        },
      });
    }
  }
  return steps;
}
