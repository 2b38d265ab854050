// FAB and FAB-T against the reference AutoAttack (fixtures/generate_fab.py runs fra31/auto-attack's
// fab_projections.py and FABAttack_PT): the three projections on random and edge-case problems,
// and whole attacks on a small Fashion-MNIST CNN (per-input outcome, the target or restart that
// fooled, the examples), with and without early stopping; then properties the reference cannot
// show: budgets, answers independent of the batch and of how rows share it, no tensor leak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { liveTensors, noGrad, scope, setNumThreads, getNumThreads, tensor, type Tensor } from '../../src/tensor/index.js';
import { loadSafetensors } from '../../src/serialization/safetensors.js';
import { TorchScriptClassifier } from '../../src/models/torchscript.js';
import { fabAttack, type FabConfig } from '../../src/attacks/fab.js';
import { projectionL1, projectionL2, projectionLinf } from '../../src/attacks/fabProjections.js';
import { sampleNorms } from '../../src/attacks/budget.js';
import type { Norm } from '../../src/attacks/threat.js';
import type { RobustRecord } from '../../src/attacks/robustAttackTypes.js';
import { ImageClassifier } from '../../src/models/classifier.js';
import { Linear } from '../../src/nn/layers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = loadSafetensors(join(ROOT, 'fixtures', 'fab.safetensors'));
for (const t of fixture.tensors.values()) t.keep();
const meta = JSON.parse(fixture.metadata.json!) as {
  runs: Record<string, number>;
  restarts: Record<'fab' | 'fabt', number>;
  iterations: number;
};
const fx = (k: string): Tensor => {
  const t = fixture.tensors.get(k);
  if (!t) throw new Error(`fab.safetensors has no tensor ${k}`);
  return t;
};
const N = fx('x').shape[0]!;
const ALL = Array.from({ length: N }, (_, i) => i);
const PIXELS = 28 * 28;

function withModel<T>(fn: (m: TorchScriptClassifier) => T): T {
  const threads = getNumThreads();
  // the reference ran on one thread: the same reduction orders
  setNumThreads(1);
  const m = new TorchScriptClassifier(join(ROOT, 'fixtures', 'fab_model.pt'), { inputShape: [1, 28, 28], device: 'cpu' });
  try {
    return fn(m);
  } finally {
    m.dispose();
    setNumThreads(threads);
  }
}

/** The fixture's inputs `rows` as a batch (their data-set positions are their fixture rows). */
function batchOf(rows: number[]) {
  const idx = tensor(BigInt64Array.from(rows, BigInt), { shape: [rows.length], dtype: 'int64' });
  return { images: fx('x').indexSelect(0, idx), labels: fx('y').indexSelect(0, idx), indices: rows };
}

/** A fixture run's config; the untargeted runs' random restarts take the reference's saved draws. */
function runConfig(key: string, extra: Partial<FabConfig> = {}, rows = ALL): FabConfig {
  const [kind, norm] = key.split('.') as ['fab' | 'fabt', Norm];
  const c: FabConfig = { norm, eps: meta.runs[key]!, seed: 0, targeted: kind === 'fabt', restarts: meta.restarts[kind], ...extra };
  if (kind === 'fab' && !('startNoise' in extra)) {
    const drawn = fx(`noise.${norm}.rows`).toNumbers();
    c.startNoise = (jobs) => {
      const at = jobs.map((j) => {
        const k = drawn.indexOf(rows[j.input]!);
        // a restart the reference did not run (its input was fooled before) draws nothing there
        if (k < 0 || j.restart !== 1) throw new Error(`restart ${j.restart} of fixture input ${rows[j.input]} has no saved draw`);
        return k;
      });
      return fx(`noise.${norm}`).indexSelect(0, tensor(BigInt64Array.from(at, BigInt), { shape: [at.length], dtype: 'int64' }));
    };
  }
  return c;
}

interface Run {
  records: RobustRecord[];
  adversarial: Float32Array;
}

function attack(m: TorchScriptClassifier, key: string, extra: Partial<FabConfig> = {}, rows = ALL): Run {
  return scope(() => {
    const out = fabAttack(m, batchOf(rows), runConfig(key, extra, rows));
    return { records: out.records, adversarial: out.adversarial.toArray<'float32'>() };
  });
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number, offset = 0): number => {
  let d = 0;
  for (let p = from; p < to; p++) d = Math.max(d, Math.abs(a[p]! - b[p + offset]!));
  return d;
};

test("the Linf, L2 and L1 projections equal the reference's on random and edge-case problems", () => {
  scope(() => {
    const fns = { linf: projectionLinf, l2: projectionL2, l1: projectionL1 };
    for (const set of ['small', 'image']) {
      for (const [norm, fn] of Object.entries(fns)) {
        const d = fn(fx(`proj.${set}.t`), fx(`proj.${set}.w`), fx(`proj.${set}.b`)).toArray<'float32'>();
        const ref = fx(`proj.${set}.${norm}`).toArray<'float32'>();
        assert.equal(d.length, ref.length);
        // The same float32 operations in the same order; only sorting differs (the reference's
        // argsort is not stable, ours is), which reorders equal keys and so the rounding of
        // cumulative sums over them: 3e-8 seen. A wrong case or sign moves coordinates by >1e-3.
        let worst = 0;
        for (let i = 0; i < d.length; i++) {
          assert.ok(Number.isFinite(d[i]!) && Number.isFinite(ref[i]!), `${set} ${norm} entry ${i}: ${d[i]} vs ${ref[i]}`);
          worst = Math.max(worst, Math.abs(d[i]! - ref[i]!));
        }
        assert.ok(worst <= 1e-5, `${set} ${norm}: differs from the reference by ${worst}`);
      }
    }
  });
});

test('a projection puts the point on the hyperplane inside the box where it can (a check independent of the reference)', () => {
  scope(() => {
    const t = fx('proj.small.t');
    const w = fx('proj.small.w');
    const b = fx('proj.small.b').toNumbers();
    for (const fn of [projectionLinf, projectionL2, projectionL1]) {
      const z = t.add(fn(t, w, fx('proj.small.b')));
      assert.ok(z.min().item() >= -1e-6 && z.max().item() <= 1 + 1e-6, `${fn.name}: inside [0, 1]`);
      const lhs = w.mul(z).sum(1).toNumbers();
      // rows 0-5: random hyperplanes near the point, reachable inside the box
      for (let r = 0; r < 6; r++)
        assert.ok(
          Math.abs(lhs[r]! - b[r]!) <= 1e-4 * Math.max(1, Math.abs(b[r]!)),
          `${fn.name} row ${r}: <w, t + d> = ${lhs[r]} vs b = ${b[r]}`,
        );
    }
  });
});

// Both sides run libtorch 1.13's CPU kernels in float32 on one thread, the same operations in the
// same order, so the reference's 100 iterations are reproduced to the last bit for Linf; for L2
// the projections' sorts differ on equal keys (above), 4e-7 seen in the examples. 1e-5 is 25
// times that, and far below what a changed step does (a step of FAB moves pixels by 1e-3 or
// more: without the overshoot, the examples differ by 1e-2).
const TOL = 1e-5;

function checkAgainstReference(key: string, run: Run, exact: boolean): void {
  const fooled = fx(`${key}.fooled`).toNumbers().map(Boolean);
  const rank = fx(`${key}.rank`).toNumbers();
  const ref = fx(`${key}.adversarial`).toArray<'float32'>();
  const x = fx('x').toArray<'float32'>();
  assert.ok(
    rank.some((r) => r > 0),
    `${key}: the fixture has an input only a later target or restart fools`,
  );
  if (key.startsWith('fabt'))
    assert.ok(
      fooled.some((f) => !f),
      `${key}: the fixture has a robust input`,
    );
  let k = 0;
  run.records.forEach((r, i) => {
    const what = `${key} input ${i}`;
    assert.equal(r.success, fooled[i], `${what}: success`);
    if (rank[i]! >= 0) {
      assert.equal(r.restart, rank[i], `${what}: the target rank or restart that fooled`);
      if (exact) {
        const d = maxDiff(run.adversarial, ref, i * PIXELS, (i + 1) * PIXELS, (k - i) * PIXELS);
        assert.ok(d <= TOL, `${what}: the example differs from the reference's by ${d}`);
      }
      k++;
    } else {
      // robust, or misclassified and not attacked: the clean image, as the reference returns it
      assert.equal(maxDiff(run.adversarial, x, i * PIXELS, (i + 1) * PIXELS), 0, `${what}: the clean image`);
      assert.equal(r.l2, 0, what);
    }
  });
}

for (const key of Object.keys(meta.runs)) {
  test(`${key} without early stopping equals the reference: outcomes, the target or restart that fooled, examples`, () => {
    withModel((m) => checkAgainstReference(key, attack(m, key, { earlyStop: false }), true));
  });
}

test("FAB-T and FAB with early stopping: the reference's outcomes; examples fool inside the budget and [0, 1]", () => {
  withModel((m) => {
    for (const key of ['fabt.linf', 'fab.l2']) {
      const run = attack(m, key);
      checkAgainstReference(key, run, false);
      scope(() => {
        const adv = tensor(run.adversarial, { shape: [N, 1, 28, 28] });
        const norm = key.split('.')[1] as Norm;
        const size = sampleNorms(adv.sub(fx('x')), norm).toNumbers();
        assert.ok(adv.min().item() >= 0 && adv.max().item() <= 1, `${key}: pixels in [0, 1]`);
        run.records.forEach((r, i) => {
          assert.ok(size[i]! <= meta.runs[key]!, `${key} input ${i}: norm ${size[i]} inside eps ${meta.runs[key]}`);
          if (r.success) assert.notEqual(r.adversarialPrediction, r.label, `${key} input ${i}`);
          // early stopping keeps the first fooling iterate inside eps, well before the 100th here
          if (r.success && r.l2 > 0)
            assert.ok(r.iteration >= 1 && r.iteration < meta.iterations, `${key} input ${i}: iteration ${r.iteration}`);
        });
      });
    }
  });
});

test("FAB-T's targets side by side give the records of targets one after another, and an input's answer does not depend on its batch", () => {
  withModel((m) => {
    // input 0 is fooled by its second target only, 2 by none: 1 + 9 jobs; 30 iterations suffice
    const rows = [0, 2, 1];
    const c = { iterations: 30 };
    const side = attack(m, 'fabt.linf', c, rows);
    // one row at a time: each target runs alone, after the ones before it
    const seq = attack(m, 'fabt.linf', { ...c, rowBatch: 1 }, rows);
    // untargeted FAB's random restarts draw from per-input generators: input 7, which only a
    // random restart fools here, beside other inputs or alone
    const rnd = { ...runConfig('fab.l2'), iterations: 30, restarts: 3, startNoise: undefined };
    const pick = (r: RobustRecord) => [r.success, r.restart, r.iteration, r.adversarialPrediction];
    const many = scope(() => fabAttack(m, batchOf([3, 7, 6]), rnd).records);
    const one = scope(() => fabAttack(m, batchOf([7]), rnd).records);
    assert.ok(side.records[0]!.success && side.records[0]!.restart === 1 && !side.records[1]!.success, 'the rows decide something');
    side.records.forEach((r, i) => {
      const s = seq.records[i]!;
      assert.deepEqual(pick(r), pick(s), `input ${rows[i]}`);
      // a lone image's convolution rounds differently from the same image in a batch (up to 4e-7,
      // src/nn/functional.ts): the examples agree to float rounding
      assert.ok(maxDiff(side.adversarial, seq.adversarial, i * PIXELS, (i + 1) * PIXELS) <= TOL, `input ${rows[i]}: examples`);
    });
    assert.ok(many[1]!.success && many[1]!.restart > 0, 'a random restart fools input 7');
    assert.deepEqual(pick(many[1]!), pick(one[0]!), 'input 7 with other inputs beside it, or alone');
    assert.ok(Math.abs(many[1]!.l2 - one[0]!.l2) <= TOL, 'input 7: the same example');
  });
});

test('no tensor outlives the attack; misclassified inputs are not attacked; bad settings are refused in one line', () => {
  withModel((m) => {
    const run = () => {
      // (the scopes return nothing: what they return would outlive them) inputs fooled early
      // (1: its first target, 0: its second), robust at 10 iterations (2) and misclassified (5)
      scope(() => {
        fabAttack(m, batchOf([0, 1, 2, 5]), runConfig('fabt.l2', { iterations: 10 }));
      });
      scope(() => {
        fabAttack(m, batchOf([1, 2, 5]), runConfig('fab.linf', { iterations: 3, restarts: 2, startNoise: undefined, earlyStop: false }));
      });
    };
    run();
    const before = liveTensors();
    run();
    assert.equal(liveTensors(), before);
    // input 5 is misclassified: its record is a success with the clean image (norms 0)
    const r = scope(() => fabAttack(m, batchOf([5]), runConfig('fabt.linf', { iterations: 2 })).records[0]!);
    assert.deepEqual([r.success, r.l2, r.linf, r.adversarialPrediction === r.cleanPrediction], [true, 0, 0, true]);
    const bad: [Partial<FabConfig>, RegExp][] = [
      [{ restarts: 0 }, /restarts must be a positive integer/],
      [{ iterations: 1.5 }, /iterations must be a positive integer/],
      [{ alphaMax: 2 }, /alphaMax must lie in \[0, 1\]/],
      [{ eps: -1 }, /eps must be a positive number/],
      [{ norm: 'l7' as Norm }, /unknown norm 'l7'/],
    ];
    for (const [extra, message] of bad) {
      assert.throws(() => scope(() => fabAttack(m, batchOf([0]), runConfig('fabt.linf', extra))), message);
    }
  });
});

/**
 * logits = W x + b on 2x2 images, x0 = 0.5 everywhere: class 0 (the label) is the highest; the
 * boundary to class k lies at Linf distance gap_k / (4 s_k) and L2 distance gap_k / (2 s_k)
 * (W's row k is s_k in every pixel, W's row 0 is 0). By clean logit the classes rank 1, 2, 3;
 * by distance 2, 3, 1: class 1 (FAB-T's first target) is far, 2 and 3 near.
 */
class LinearModel extends ImageClassifier {
  readonly classifier: Linear;
  constructor() {
    super({ arch: 'linear', inputShape: [1, 2, 2], numClasses: 4 });
    this.classifier = this.registerModule('classifier', new Linear(4, 4));
    const s = [0, 0.1, 1, 1];
    const gap = [0, 0.12, 0.2, 0.32];
    scope(() =>
      noGrad(() => {
        this.classifier.weight.copy_(
          tensor(
            s.flatMap((v) => [v, v, v, v]),
            { shape: [4, 4] },
          ),
        );
        this.classifier.bias!.copy_(
          tensor(
            s.map((v, k) => 1 - gap[k]! - 2 * v),
            { shape: [4] },
          ),
        );
      }),
    );
  }
  protected embed(x: Tensor): Tensor {
    return x.flatten(1);
  }
}
const DIST = { linf: [0, 0.3, 0.05, 0.08], l2: [0, 0.6, 0.1, 0.16] };

test('on a linear model (closed form): FAB-T keeps the lowest target that fools; FAB ends just past the nearest boundary', () => {
  const m = new LinearModel();
  try {
    scope(() => {
      const batch = {
        images: tensor(new Float32Array(4).fill(0.5), { shape: [1, 1, 2, 2] }),
        labels: tensor(BigInt64Array.from([0n]), { shape: [1], dtype: 'int64' }),
        indices: [0],
      };
      for (const norm of ['linf', 'l2'] as const) {
        const d = DIST[norm];
        // eps between the near boundaries and the far one: the first target fails, the second and
        // third both fool (at their first step, 1.05 times their distance), side by side
        const eps = 2 * d[3]!;
        const t = fabAttack(m, batch, { norm, eps, seed: 0, targeted: true }).records[0]!;
        assert.deepEqual([t.success, t.restart, t.adversarialPrediction], [true, 1, 2], `${norm}: FAB-T, the second target`);
        // untargeted, all iterations: the smallest fooling iterate, at most the overshoot (eta
        // 1.05) past the nearest boundary, never before it
        const u = fabAttack(m, batch, { norm, eps, seed: 0, targeted: false, earlyStop: false }).records[0]!;
        const size = norm === 'linf' ? u.linf : u.l2;
        assert.ok(u.success && u.adversarialPrediction === 2, `${norm}: FAB fools towards the nearest class`);
        assert.ok(
          size >= d[2]! * (1 - 1e-5) && size <= d[2]! * 1.05 * (1 + 1e-5),
          `${norm}: FAB's example at ${size}, the boundary at ${d[2]}`,
        );
        assert.ok(size < d[2]! * 1.01, `${norm}: 100 iterations close in on the boundary (${size} against ${d[2]})`);
      }
    });
  } finally {
    m.dispose();
  }
});
