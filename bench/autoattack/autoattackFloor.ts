// The least model work AutoAttack `standard` does on a given run, priced with Sauron's own
// passes: whatever else an implementation saves, the inputs still robust after an attack have
// had every pass of it (none of them stops early), and those passes alone take this long. It
// bounds the speed-up any faithful implementation with these kernels can reach over the
// reference on that run.
import { loadModel } from '../../src/models/runFolder.js';
import { withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { rand } from '../../src/tensor/creation.js';
import { autocast } from '../../src/tensor/device.js';
import { getNumThreads, setNumThreads } from '../../src/tensor/runtime.js';
import { scope } from '../../src/tensor/scope.js';

/** Microseconds per input row of one forward pass, and of one forward and input-gradient pass. */
export interface PassCosts {
  forward: number;
  gradient: number;
  /** One Square query averaged over its schedule, as Square runs it (squareLocal.ts); a full forward when absent. */
  squareQuery?: number;
}

/**
 * Sauron's passes through the model of run folder `dir` as the attacks take them (eval mode,
 * batch norm folded), `rows` inputs at a time, on `threads` threads; the faster of two rounds.
 */
export function passCosts(dir: string, rows: number, threads: number, precision: 'fp32' | 'bf16' = 'fp32'): PassCosts {
  const before = getNumThreads();
  setNumThreads(threads);
  const { model } = loadModel(dir);
  model.eval();
  const dtype = precision === 'bf16' ? 'bfloat16' : null;
  try {
    return withFoldedBatchNorm(model, () =>
      scope(() => {
        const x = rand([rows, ...model.config.inputShape]);
        const forward = () =>
          noGrad(() =>
            autocast(x.device, dtype, () => model.forward(x).logits)
              .float()
              .sum()
              .toNumbers(),
          );
        const gradient = () => {
          const xg = x.detach().requiresGrad_(true);
          autocast(x.device, dtype, () => model.forward(xg).logits)
            .float()
            .sum()
            .backward();
          xg.grad!.sum().toNumbers();
        };
        const time = (pass: () => void) => microsecondsPerRow(pass, rows, { rounds: 2, rowPasses: 20_000, minReps: 3 });
        return { forward: time(forward), gradient: time(gradient) };
      }),
    );
  } finally {
    setNumThreads(before);
  }
}

/**
 * Microseconds per row of `pass` on `rows` rows: one pass to warm up, then the fastest of
 * `rounds` rounds of max(minReps, rowPasses / rows) passes, each in its own scope.
 */
export function microsecondsPerRow(pass: () => void, rows: number, o: { rounds: number; rowPasses: number; minReps: number }): number {
  scope(pass);
  const reps = Math.max(o.minReps, Math.ceil(o.rowPasses / rows));
  let best = Infinity;
  for (let round = 0; round < o.rounds; round++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) scope(pass);
    best = Math.min(best, (performance.now() - t0) / reps);
  }
  return (best * 1000) / rows;
}

/** Robust accuracy after each attack of `standard`, as results.json gives it, and the input count. */
export interface CascadeCounts {
  inputs: number;
  after: Record<'apgd-ce' | 'apgd-t' | 'fab-t' | 'square', number>;
}

/**
 * Seconds of passes that `standard` (100 iterations, 9 targets, 5,000 Square queries) cannot
 * avoid at these costs: the inputs robust after each attack took all its iterations, a
 * gradient each (APGD-CE, APGD-T, FAB-T: FAB's forward that judges each iterate not counted)
 * or a query each (Square).
 */
export function cascadeFloor(c: CascadeCounts, cost: PassCosts): Record<'apgd-ce' | 'apgd-t' | 'fab-t' | 'square' | 'total', number> {
  const rows = (k: keyof CascadeCounts['after']) => Math.round(c.after[k] * c.inputs);
  const s = (n: number, us: number) => (n * us) / 1e6;
  const out = {
    'apgd-ce': s(rows('apgd-ce') * 100, cost.gradient),
    'apgd-t': s(rows('apgd-t') * 9 * 100, cost.gradient),
    'fab-t': s(rows('fab-t') * 9 * 100, cost.gradient),
    square: s(rows('square') * 5000, cost.squareQuery ?? cost.forward),
  };
  return { ...out, total: out['apgd-ce'] + out['apgd-t'] + out['fab-t'] + out.square };
}
