// APGD against the reference AutoAttack (fixtures/generate_apgd.py runs autopgd_base.py on
// python3-torch): the DLR losses, the checkpoint schedule, whole trajectories (step sizes,
// losses, best-loss points, first misclassified iterates) and whole attacks (the inputs fooled,
// the run and iteration that fooled them, the examples, APGD-T's target order); and properties:
// the budget and [0, 1] on random models, runs side by side giving what one after another gives,
// eot, the random start, config errors, flat memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { full, Generator, getNumThreads, liveTensors, noGrad, rand, scope, setNumThreads, type Tensor } from '../../src/tensor/index.js';
import { grad } from '../../src/tensor/autograd.js';
import { loadSafetensors } from '../../src/serialization/safetensors.js';
import { TorchScriptClassifier } from '../../src/models/torchscript.js';
import { createModel } from '../../src/models/index.js';
import { withEval } from '../../src/nn/module.js';
import { derivedGenerator } from '../../src/tensor/random.js';
import { apgdAttack, apgdStart, apgdTargets, type ApgdConfig } from '../../src/attacks/apgd.js';
import { apgdCheckpoints, apgdStep } from '../../src/attacks/stepRules.js';
import { apgdObjective, dlrLoss, dlrTargetedLoss } from '../../src/attacks/losses.js';
import { pgdLoop } from '../../src/attacks/pgdLoop.js';
import { assertInBudget, sampleNorms, type Norm } from '../../src/attacks/budget.js';
import type { StepRule } from '../../src/attacks/loop.js';
import type { RobustRecord } from '../../src/attacks/robustAttackTypes.js';
import { ROOT } from '../support/helpers.js';

const fixture = loadSafetensors(join(ROOT, 'fixtures', 'apgd.safetensors'));
for (const t of fixture.tensors.values()) t.keep();
const meta = JSON.parse(fixture.metadata.json!) as {
  iterations: number;
  runs: Record<Norm, number>;
  inputs: number[];
  checkpoints: Record<string, { at: number[]; window: number[] }>;
};
const fx = (k: string): Tensor => {
  const t = fixture.tensors.get(k);
  if (!t) throw new Error(`apgd.safetensors has no tensor ${k}`);
  return t;
};
const ITERS = meta.iterations;
const N = meta.inputs.length;
const NORMS: Norm[] = ['linf', 'l2'];

function withModel<T>(fn: (m: TorchScriptClassifier) => T): T {
  const threads = getNumThreads();
  // python3-torch ran on one thread: the same reduction orders
  setNumThreads(1);
  // the CPU whatever the default device: the fixture's float32 arithmetic is the CPU's
  const m = new TorchScriptClassifier(join(ROOT, 'fixtures', 'apgd_model.pt'), { inputShape: [1, 28, 28], device: 'cpu' });
  try {
    return withEval(m, () => fn(m));
  } finally {
    m.dispose();
    setNumThreads(threads);
  }
}

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

/** Same shape and the same float32 values, bit for bit. */
function same(a: Tensor, b: Tensor): boolean {
  if (a.shape.join() !== b.shape.join()) return false;
  const [u, v] = [a.toArray<'float32'>(), b.toArray<'float32'>()];
  return u.every((x, i) => Object.is(x, v[i]));
}

test("the DLR and targeted DLR losses and their gradients equal the reference's to 1e-6", () => {
  scope(() => {
    const y = fx('dlr.y');
    const t = fx('dlr.target');
    for (const [name, f] of [
      ['', (z: Tensor) => dlrLoss(z, y)],
      ['_targeted', (z: Tensor) => dlrTargetedLoss(z, y, t)],
    ] as const) {
      const z = fx('dlr.logits').clone().requiresGrad_(true);
      const loss = f(z);
      const g = grad(loss.sum(), z)[0]!.toNumbers();
      const [got, want, refG] = [loss.detach().toNumbers(), fx(`dlr.loss${name}`).toNumbers(), fx(`dlr.grad${name}`).toNumbers()];
      got.forEach((v, i) => assert.ok(close(v, want[i]!, 1e-6), `dlr${name} row ${i}: ${v} vs ${want[i]}`));
      g.forEach((v, i) => assert.ok(close(v, refG[i]!, 1e-6), `dlr${name} gradient entry ${i}: ${v} vs ${refG[i]}`));
    }
  });
});

test("the checkpoints are the reference's: where attack_single_run checks the step size, and the windows", () => {
  for (const [n, ref] of Object.entries(meta.checkpoints)) {
    const { at, window } = apgdCheckpoints(Number(n));
    const acting = at.flatMap((t, j) => (t < Number(n) ? [[t, window[j]!]] : []));
    assert.deepEqual(
      acting.map(([t]) => t),
      ref.at,
      `n_iter ${n}: checkpoints`,
    );
    assert.deepEqual(
      acting.map(([, w]) => w),
      ref.window,
      `n_iter ${n}: windows`,
    );
  }
  // the paper's schedule for 100 iterations
  assert.deepEqual(apgdCheckpoints(100).at, [22, 41, 57, 70, 80, 87, 93, 99]);
});

/** The step rule on the fixture's start points for every iteration (pgdLoop: no row leaves). */
function trajectory(m: TorchScriptClassifier, norm: Norm, run: string) {
  const x = fx('x');
  const y = fx('y');
  const eps = meta.runs[norm];
  const target = run === 'dlr_targeted' ? apgdTargets(m.forward(x).logits, 1).select(1, 0) : undefined;
  const rule = apgdStep({ norm, eps, iterations: ITERS });
  const size: number[][] = [];
  const loss: number[][] = [];
  let xBest: Float32Array | null = null;
  const observed: StepRule = {
    init: rule.init,
    next: (c) => {
      const o = rule.next(c);
      size.push(o.state.size!.toNumbers());
      loss.push(c.objective.toNumbers());
      if (c.t === ITERS - 1) xBest = o.state.xBest!.toArray<'float32'>();
      return o;
    },
  };
  const r = pgdLoop({
    x0: x,
    start: fx(`start.${norm}`),
    norm,
    eps,
    stepSize: 0,
    iterations: ITERS,
    rule: observed,
    evaluate: (xi) => apgdObjective(m.forward(xi).logits, y, run === 'ce' ? 'ce' : 'dlr', target),
  });
  return { size, loss, xBest: xBest!, kept: Array.from(r.bestIteration), fooled: r.bestScore.toNumbers().map((s) => s > 0) };
}

test("APGD's step rule follows the reference's trajectories: step sizes, losses, best-loss points, first misclassified iterates", () => {
  withModel((m) =>
    scope(() => {
      let halvedSome = 0;
      let keptSome = 0;
      for (const norm of NORMS) {
        for (const run of ['ce', 'dlr', 'dlr_targeted']) {
          const name = `${norm}.${run}`;
          const got = trajectory(m, norm, run);
          const [refSize, refLoss, refBest, refFirst] = [
            fx(`${name}.step_size`).toNumbers(),
            fx(`${name}.loss`).toNumbers(),
            fx(`${name}.x_best`).toArray<'float32'>(),
            fx(`${name}.first_it`).toNumbers(),
          ];
          // Both sides run libtorch 1.13's CPU kernels in float32 on one thread, the same
          // operations in the same order (the reference's projections, normalisations and losses
          // are restated op for op), and the trajectories are bit-identical here. The tolerances
          // (1e-5) sit far below any step (eps / 2^8 after eight halvings), so a step taken with
          // another size or direction, or another point kept, fails. Linf steps along sign(g): a
          // gradient component within rounding of 0 could flip on another libtorch build and part
          // the trajectories; on this one none does, so every row is compared at every iteration.
          for (let t = 0; t < ITERS; t++) {
            for (let i = 0; i < N; i++) {
              assert.equal(got.size[t]![i], refSize[t * N + i], `${name} row ${i}: step size of iteration ${t}`);
              assert.ok(
                close(got.loss[t]![i]!, refLoss[t * N + i]!, 1e-5),
                `${name} row ${i}: loss of iterate ${t}: ${got.loss[t]![i]} vs ${refLoss[t * N + i]}`,
              );
            }
          }
          let d = 0;
          for (let p = 0; p < refBest.length; p++) d = Math.max(d, Math.abs(got.xBest[p]! - refBest[p]!));
          assert.ok(d <= 1e-5, `${name}: the best-loss points differ by ${d}`);
          for (let i = 0; i < N; i++) {
            assert.equal(got.fooled[i], refFirst[i]! >= 0, `${name} row ${i}: misclassified at some iterate`);
            if (refFirst[i]! >= 0) assert.equal(got.kept[i], refFirst[i], `${name} row ${i}: the first misclassified iterate`);
          }
          halvedSome += new Set(refSize.slice((ITERS - 1) * N)).size > 1 ? 1 : 0;
          keptSome += refFirst.filter((f) => f > 1).length;
        }
      }
      // the fixture decides something: rows end with different step sizes, iterates past the
      // first two are kept
      assert.ok(halvedSome >= 4, `rows halve differently in ${halvedSome} runs`);
      assert.ok(keptSome >= 6, `${keptSome} rows first misclassified after iteration 1`);
    }),
  );
});

const WHOLE: [string, Pick<ApgdConfig, 'norm' | 'loss' | 'targeted'>][] = [
  ['apgd_ce.linf', { norm: 'linf', loss: 'ce' }],
  ['apgd_t.linf', { norm: 'linf', loss: 'dlr', targeted: true }],
  ['apgd_dlr.l2', { norm: 'l2', loss: 'dlr' }],
];

test("APGD-CE, APGD-T and APGD-DLR from fixed starts fool the reference's inputs with its runs, at its iterations, with its iterates", () => {
  withModel((m) =>
    scope(() => {
      const x = fx('x');
      const clean = noGrad(() => m.forward(x).logits);
      // APGD-T's targets, run by run, for the inputs each run attacked
      const order = apgdTargets(clean, 9).toNumbers();
      const refTargets = fx('apgd_t.linf.targets').toNumbers();
      let attackedLater = 0;
      for (let q = 0; q < 9; q++) {
        for (let i = 0; i < N; i++) {
          const want = refTargets[q * N + i]!;
          if (want < 0) continue;
          assert.equal(order[i * 9 + q], want, `input ${i}: target of run ${q}`);
          if (q > 0) attackedLater++;
        }
      }
      assert.ok(attackedLater > 0, 'the reference ran later targets');
      for (const [name, c] of WHOLE) {
        const out = apgdAttack(
          m,
          { images: x, labels: fx('y'), indices: meta.inputs },
          { ...c, eps: meta.runs[c.norm], seed: 0, start: fx(`start.${c.norm}`) },
        );
        const [fooled, run, it] = [fx(`${name}.fooled`).toNumbers(), fx(`${name}.run`).toNumbers(), fx(`${name}.first_it`).toNumbers()];
        const refAdv = fx(`${name}.first_adv`).toArray<'float32'>();
        const adv = out.adversarial.toArray<'float32'>();
        const pixels = adv.length / N;
        out.records.forEach((r, i) => {
          assert.equal(r.success, fooled[i] === 1, `${name} input ${i}: fooled`);
          if (run[i]! >= 0) {
            assert.equal(r.restart, run[i], `${name} input ${i}: the fooling run`);
            assert.equal(r.iteration, it[i], `${name} input ${i}: the first misclassified iteration`);
          }
          let d = 0;
          for (let p = i * pixels; p < (i + 1) * pixels; p++) d = Math.max(d, Math.abs(adv[p]! - refAdv[p]!));
          // (the tolerance: see the trajectories' test)
          assert.ok(d <= 1e-5, `${name} input ${i}: the example differs by ${d}`);
        });
      }
      assert.ok(
        fx('apgd_t.linf.run')
          .toNumbers()
          .some((q) => q > 0),
        'the fixture has an input a later target fooled',
      );
    }),
  );
});

/** Records without their floating norms (compared separately). */
const facts = (rs: RobustRecord[]) => rs.map(({ l2: _l2, linf: _linf, ...r }) => r);

test("APGD-T: an input's targets and restarts run side by side give what they give one after another", () => {
  withModel((m) =>
    scope(() => {
      const c: ApgdConfig = {
        norm: 'linf',
        eps: meta.runs.linf,
        loss: 'dlr',
        targeted: true,
        targetClasses: 4,
        restarts: 2,
        iterations: 20,
        seed: 5,
      };
      const images = fx('x');
      const labels = fx('y');
      // all runs of all inputs at once
      const together = apgdAttack(m, { images, labels, indices: meta.inputs }, { ...c, rowBatch: 1000 });
      // one input at a time, one row at a time: runs strictly in order
      for (let i = 0; i < N; i++) {
        const one = apgdAttack(
          m,
          { images: images.narrow(0, i, 1), labels: labels.narrow(0, i, 1), indices: [meta.inputs[i]!] },
          { ...c, rowBatch: 1 },
        );
        assert.deepEqual(facts(one.records), facts([together.records[i]!]), `input ${i}`);
        assert.ok(same(one.adversarial, together.adversarial.narrow(0, i, 1)), `input ${i}: the example`);
      }
      assert.ok(
        together.records.some((r) => r.success && r.restart > 0),
        'some input is fooled by a later target',
      );
    }),
  );
});

test("APGD's examples stay inside the budget and [0, 1]; unfooled inputs keep their clean image (random models)", () => {
  const check = (m: Parameters<typeof apgdAttack>[0], images: Tensor, labels: Tensor, c: ApgdConfig) => {
    const out = apgdAttack(m, { images, labels, indices: Array.from({ length: images.shape[0]! }, (_, i) => 100 + i) }, c);
    assertInBudget(out.adversarial, images, c.norm, c.eps);
    const pred = noGrad(() => m.forward(out.adversarial).logits.argmax(1)).toNumbers();
    const y = labels.toNumbers();
    const norms = sampleNorms(out.adversarial.sub(images), c.norm).toNumbers();
    out.records.forEach((r, i) => {
      assert.equal(r.success, pred[i] !== y[i], `row ${i}: success is the prediction leaving the label`);
      if (!r.success) assert.equal(norms[i], 0, `row ${i}: an unfooled input keeps its clean image`);
    });
    return out.records.filter((r) => r.success).length;
  };
  for (const seed of [1, 2]) {
    const m = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 }, { generator: new Generator(seed) });
    try {
      withEval(m, () =>
        scope(() => {
          const images = rand([4, 1, 28, 28], { generator: new Generator(10 + seed) });
          const labels = noGrad(() => m.forward(images).logits.argmax(1));
          for (const norm of NORMS) {
            for (const loss of ['ce', 'dlr'] as const) {
              for (const targeted of loss === 'dlr' ? [false, true] : [false]) {
                check(m, images, labels, {
                  norm,
                  eps: norm === 'linf' ? 0.3 : 3,
                  loss,
                  targeted,
                  targetClasses: 2,
                  iterations: 10,
                  restarts: 2,
                  seed,
                });
              }
            }
          }
        }),
      );
    } finally {
      m.dispose();
    }
  }
  // a trained model, which some inputs fool
  withModel((m) =>
    scope(() => {
      let fooled = 0;
      for (const norm of NORMS) fooled += check(m, fx('x'), fx('y'), { norm, eps: meta.runs[norm], loss: 'ce', iterations: 20, seed: 3 });
      assert.ok(fooled > 0, 'some examples fool the trained model');
    }),
  );
});

test('eotIter 2 on a deterministic model gives what eotIter 1 gives (the same mean gradient, the last loss)', () => {
  withModel((m) =>
    scope(() => {
      const b = { images: fx('x'), labels: fx('y'), indices: meta.inputs };
      const c: ApgdConfig = { norm: 'l2', eps: meta.runs.l2, loss: 'ce', iterations: 30, seed: 2 };
      const [one, two] = [apgdAttack(m, b, c), apgdAttack(m, b, { ...c, eotIter: 2 })];
      assert.deepEqual(two.records, one.records);
      assert.ok(same(two.adversarial, one.adversarial));
    }),
  );
});

test("the random start lies on the budget's sphere (x + eps t / ||t||) and depends only on (seed, input, run)", () => {
  scope(() => {
    const x = full([4, 1, 8, 8], 0.5);
    for (const norm of NORMS) {
      const eps = norm === 'linf' ? 0.1 : 1;
      const gens = (seed: number) => [0, 1, 2, 3].map((i) => derivedGenerator(seed, i, i % 2, 28));
      const s = apgdStart(x, norm, eps, gens(1));
      sampleNorms(s.sub(x), norm)
        .toNumbers()
        .forEach((v, i) => assert.ok(Math.abs(v - eps) <= 1e-6, `${norm} row ${i}: ${v}`));
      assert.ok(same(s, apgdStart(x, norm, eps, gens(1))), `${norm}: the same generators, the same start`);
      assert.ok(!same(s, apgdStart(x, norm, eps, gens(2))), `${norm}: another seed, another start`);
      if (norm === 'linf')
        assert.ok(
          s
            .sub(x)
            .abs()
            .flatten(1)
            .amin(1)
            .toNumbers()
            .every((v) => v < eps * 0.99),
          'Linf: not a corner of the cube',
        );
    }
  });
});

test('APGD refuses configs the reference does not run, in one line naming the field', () => {
  withModel((m) =>
    scope(() => {
      const b = { images: fx('x'), labels: fx('y'), indices: meta.inputs };
      const base: ApgdConfig = { norm: 'linf', eps: 0.03, loss: 'dlr', seed: 0 };
      const bad: [Partial<ApgdConfig> | Record<string, unknown>, RegExp][] = [
        [{ norm: 'l1' }, /norm 'l1' is not supported .*L1 projection/],
        [{ loss: 'ce', targeted: true }, /targeted run takes loss 'dlr'/],
        [{ targeted: true, targetClasses: 10 }, /targetClasses must be at most 9/],
        [{ iterations: 0 }, /iterations must be a positive integer/],
        [{ restarts: 1.5 }, /restarts must be a positive integer/],
        [{ rho: 0 }, /rho must be in/],
        [{ start: fx('x').narrow(0, 0, 2) }, /start is \[2, 1, 28, 28\]/],
        [{ start: fx('x').add(0.5).clamp(0, 1) }, /start row \d+ lies .* outside eps/],
      ];
      for (const [patch, re] of bad)
        assert.throws(() => apgdAttack(m, b, { ...base, ...patch } as ApgdConfig), re, JSON.stringify(Object.keys(patch)));
    }),
  );
});

test('APGD frees every tensor it makes', () => {
  withModel((m) => {
    const run = () =>
      scope(() => {
        for (const c of [{ loss: 'ce' }, { loss: 'dlr', targeted: true, targetClasses: 3, restarts: 2 }] as const) {
          apgdAttack(
            m,
            { images: fx('x'), labels: fx('y'), indices: meta.inputs },
            { norm: 'linf', eps: 0.03, iterations: 15, seed: 1, ...c },
          );
        }
      });
    run();
    const before = liveTensors();
    run();
    run();
    assert.equal(liveTensors(), before, 'no tensor outlives its scope');
  });
});
