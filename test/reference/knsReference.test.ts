// k-NS against an independent reference (fixtures/generate_kns_reference.py, written from the
// authors' optimal_impostor.py and the robustness attacker it calls): the neurons each input's
// ranking picks, their Deltas, success, the kept iterate and the adversarial images; the
// ranking against a float64 computation here; Delta achieved judged from the adversarial
// examples' own features; the k-NS success rates on records whose rates are known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Modules, not src/index.ts: this test needs the attack, the ranking and TorchScript only.
import { noGrad, scope, setNumThreads, getNumThreads, tensor, type Tensor } from '../../src/tensor/index.js';
import { loadSafetensors } from '../../src/serialization/safetensors.js';
import { TorchScriptClassifier } from '../../src/models/torchscript.js';
import { knsAttack, knsSuccessRates } from '../../src/attacks/kns.js';
import type { Norm } from '../../src/attacks/budget.js';
import type { NeuronRecord } from '../../src/attacks/attackTypes.js';
import { delta } from '../../src/analysis/delta.js';
import { rankNeurons, scaleDeltas } from '../../src/analysis/scaled.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const fixture = loadSafetensors(join(ROOT, 'fixtures', 'kns_reference.safetensors'));
for (const t of fixture.tensors.values()) t.keep();
const meta = JSON.parse(fixture.metadata.json!) as {
  shape: [number, number, number];
  inputs: number;
  neurons: number;
  lambda: number;
  iterations: number;
  runs: Record<Norm, number>;
};
const fx = (k: string): Tensor => {
  const t = fixture.tensors.get(k);
  if (!t) throw new Error(`kns_reference.safetensors has no tensor ${k}`);
  return t;
};
const N = meta.inputs;
const K = meta.neurons;
const mean = Array.from(fx('feature_mean').toArray<'float32'>());
const std = Array.from(fx('feature_std').toArray<'float32'>());

function withModel<T>(fn: (m: TorchScriptClassifier) => T): T {
  const threads = getNumThreads();
  // PyTorch ran on one thread: the same reduction orders
  setNumThreads(1);
  // the CPU whatever the default device: the fixture's float32 arithmetic is the CPU's
  const m = new TorchScriptClassifier(join(ROOT, 'fixtures', 'kns_reference_model.pt'), { inputShape: meta.shape, device: 'cpu' });
  try {
    return fn(m);
  } finally {
    m.dispose();
    setNumThreads(threads);
  }
}

/** Ascending order of values, ties by index, NaN after +inf: numpy's stable argsort, in float64. */
function argsortF64(values: number[]): number[] {
  const key = (v: number) => (Number.isNaN(v) ? Number.POSITIVE_INFINITY : v);
  return values
    .map((_, i) => i)
    .sort((a, b) => {
      const [va, vb] = [values[a]!, values[b]!];
      if (Number.isNaN(va) !== Number.isNaN(vb)) return Number.isNaN(va) ? 1 : -1;
      return key(va) - key(vb) || a - b;
    });
}

interface Run {
  records: NeuronRecord[];
  adversarial: Float32Array;
}
const runs = new Map<Norm, Run>();

/** Sauron's k-NS on the fixture's inputs, once per norm (the later tests read the same runs). */
function attackRun(m: TorchScriptClassifier, norm: Norm): Run {
  const cached = runs.get(norm);
  if (cached) return cached;
  const run = scope(() => {
    const out = knsAttack(
      m,
      { images: fx('x'), labels: fx('clean_prediction'), indices: Array.from({ length: N }, (_, i) => i) },
      {
        norm,
        eps: meta.runs[norm],
        iterations: meta.iterations,
        rankCount: K,
        lambda: meta.lambda,
        fakeRelu: false,
        featureMean: mean,
        featureStd: std,
        seed: 0,
      },
    );
    return { records: out.records, adversarial: out.adversarial.toArray<'float32'>() };
  });
  runs.set(norm, run);
  return run;
}

const PIXELS = meta.shape[0] * meta.shape[1] * meta.shape[2];

test('k-NS equals the reference attack: neurons, Deltas, success, kept iterate and adversarial images, L2 and Linf', () => {
  withModel((m) => {
    const refNeuron = fx('neuron').toNumbers();
    const refDelta = Array.from(fx('delta').toArray<'float32'>());
    for (const norm of Object.keys(meta.runs) as Norm[]) {
      const { records, adversarial } = attackRun(m, norm);
      const refSuccess = fx(`${norm}.success`).toNumbers().map(Boolean);
      const refIt = fx(`${norm}.iteration`).toNumbers();
      const refAdv = fx(`${norm}.adversarial`).toArray<'float32'>();
      assert.equal(records.length, N * K);
      // the fixture decides something: some rows fool the model and some do not
      assert.ok(refSuccess.some((s) => s) && refSuccess.some((s) => !s), `${norm}: a mix of outcomes in the fixture`);
      // Both sides run libtorch 1.13's CPU kernels in float32 on one thread; the losses are
      // composed differently (mean against sum over rows, norms), so iterates differ by a few
      // ulps (2.4e-7 seen for L2 after 50 steps, none for Linf). 1e-5 is 40 times that and far
      // below one step (2.5 eps / 50: 0.025 for L2, 0.0015 for Linf), so a step taken
      // differently, or another iterate kept, fails. Linf steps along sign(g), where a gradient
      // component within rounding of 0 could flip and move a pixel by two steps; on this fixture
      // none does (the images are equal), so every row is compared, not only agreeing ones.
      const TOL = 1e-5;
      records.forEach((r, i) => {
        const what = `${norm} row ${i} (input ${Math.floor(i / K)}, rank ${(i % K) + 1})`;
        assert.equal(r.index, Math.floor(i / K), what);
        assert.equal(r.rank, (i % K) + 1, what);
        assert.equal(r.neuron, refNeuron[i], `${what}: neuron`);
        assert.ok(Math.abs(r.delta - refDelta[i]!) <= 1e-5 * Math.abs(refDelta[i]!), `${what}: Delta ${r.delta} vs ${refDelta[i]}`);
        assert.equal(r.success, refSuccess[i], `${what}: success`);
        assert.equal(r.iteration, refIt[i], `${what}: kept iteration`);
        let d = 0;
        for (let p = i * PIXELS; p < (i + 1) * PIXELS; p++) d = Math.max(d, Math.abs(adversarial[p]! - refAdv[p]!));
        assert.ok(d <= TOL, `${what}: adversarial image differs by ${d}`);
      });
    }
  });
});

test("Delta on the fixture's inputs equals the reference loop; Delta achieved is what the adversarial examples' own features show", () => {
  withModel((m) =>
    scope(() => {
      const { logits, features } = noGrad(() => m.forward(fx('x')));
      const d = delta(logits, features, m.classifier.weight).t().contiguous().toArray<'float32'>(); // [N, F]
      const ref = fx('deltas').toArray<'float32'>();
      for (let i = 0; i < ref.length; i++) {
        if (!Number.isFinite(ref[i]!)) assert.equal(d[i], ref[i], `entry ${i}`);
        else assert.ok(Math.abs(d[i]! - ref[i]!) <= 1e-5 * Math.abs(ref[i]!), `entry ${i}: ${d[i]} vs ${ref[i]}`);
      }
      const f = m.featureDim;
      const z = features.toArray<'float32'>();
      const refZ = fx('features').toArray<'float32'>();
      for (const norm of Object.keys(meta.runs) as Norm[]) {
        const { records, adversarial } = attackRun(m, norm);
        const adv = tensor(adversarial, { shape: [N * K, ...meta.shape] });
        const zAdv = noGrad(() => m.forward(adv).features).toArray<'float32'>();
        const refZAdv = fx(`${norm}.adversarial_features`).toArray<'float32'>();
        let reached = 0;
        records.forEach((r, i) => {
          const j = r.neuron;
          const input = Math.floor(i / K);
          // z_i(x) + Delta in float64 from the clean features; >= for a push up, <= for a push
          // down (the reference's delta_analysis always tests >=; Sauron's deviation for Delta < 0)
          const target = z[input * f + j]! + r.delta;
          const zi = zAdv[i * f + j]!;
          const margin = r.delta >= 0 ? zi - target : target - zi;
          assert.ok(Math.abs(margin) > 1e-5, `${norm} row ${i}: z_i lands within rounding of its target (${margin}); pick other inputs`);
          assert.equal(r.deltaAchieved, margin >= 0, `${norm} row ${i}: z_i ${zi}, target ${target}`);
          // and the reference's adversarial example reaches it exactly when Sauron's does
          const refTarget = refZ[input * f + j]! + r.delta;
          assert.equal(
            r.delta >= 0 ? refZAdv[i * f + j]! >= refTarget : refZAdv[i * f + j]! <= refTarget,
            margin >= 0,
            `${norm} row ${i}: the reference's features`,
          );
          if (margin >= 0) reached++;
        });
        assert.ok(reached > 0 && reached < records.length, `${norm}: some targets reached, some not (${reached} of ${records.length})`);
      }
    }),
  );
});

test("scaled Deltas and the per-input ranking equal a float64 computation and the reference's argsort", () => {
  scope(() => {
    const deltas = fx('deltas'); // [N, F], +inf where no change of one neuron alone flips the prediction
    const f = deltas.shape[1]!;
    const d = Array.from(deltas.toArray<'float32'>());
    const scaled = scaleDeltas(deltas, mean, std, 0).toArray<'float32'>();
    const ranking = rankNeurons(scaleDeltas(deltas, mean, std, 0)).toNumbers();
    const refScaled = fx('scaled').toArray<'float64'>();
    const refRanking = fx('ranking').toNumbers();
    assert.ok(
      d.some((v) => !Number.isFinite(v)),
      'the fixture has +inf Deltas',
    );
    let differsFromRaw = false;
    for (let n = 0; n < N; n++) {
      const row = Array.from({ length: f }, (_, j) => (d[n * f + j]! - mean[j]!) / std[j]!);
      for (let j = 0; j < f; j++) {
        const [got, want, theirs] = [scaled[n * f + j]!, row[j]!, refScaled[n * f + j]!];
        if (!Number.isFinite(want)) {
          assert.equal(got, want, `input ${n} feature ${j}`);
          assert.equal(theirs, want, `input ${n} feature ${j}: the reference`);
        } else {
          assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `input ${n} feature ${j}: ${got} vs ${want}`);
          assert.ok(
            Math.abs(theirs - want) <= 1e-5 * Math.max(1, Math.abs(want)),
            `input ${n} feature ${j}: the reference ${theirs} vs ${want}`,
          );
        }
      }
      const order = argsortF64(row);
      assert.deepEqual(ranking.slice(n * f, (n + 1) * f), order, `input ${n}: the whole ranking`);
      // numpy's argsort is not stable across the +inf ties: compare the finite prefix
      const finite = row.filter(Number.isFinite).length;
      assert.deepEqual(refRanking.slice(n * f, n * f + finite), order.slice(0, finite), `input ${n}: the reference's ranking`);
      // ranking by raw Delta would attack other neurons: the fixture can tell the two apart
      const raw = argsortF64(d.slice(n * f, (n + 1) * f));
      if (raw.slice(0, K).join() !== order.slice(0, K).join()) differsFromRaw = true;
    }
    assert.ok(differsFromRaw, "some input's most sensitive neurons by scaled Delta differ from those by raw Delta");
  });
});

test('ranking: ties keep index order, +inf after every finite value, NaN last; eps enters the scale', () => {
  scope(() => {
    const I = Number.POSITIVE_INFINITY;
    const row = [2, -1, I, 2, Number.NaN, -1, 0, -I];
    assert.deepEqual(rankNeurons(tensor(row, { shape: [1, 8] })).toNumbers(), [7, 1, 5, 6, 0, 3, 2, 4]);
    assert.deepEqual(argsortF64(row), [7, 1, 5, 6, 0, 3, 2, 4]);
    // (Delta - mu) / (sigma + eps); sigma + eps = 0 gives NaN for a zero numerator, inf otherwise
    const s = scaleDeltas(tensor([[3, 1, 5]]), [1, 1, 1], [1, 0, 0], 0.5).toNumbers();
    assert.deepEqual(s, [Math.fround(2 / 1.5), 0, 4 / 0.5]);
    const z = scaleDeltas(tensor([[1, 2]]), [1, 1], [0, 0], 0).toNumbers();
    assert.ok(Number.isNaN(z[0]!) && z[1] === I, `${z}`);
  });
});

test('k-NS success rates on records whose rates are known: an input counts from the first rank that fools it', () => {
  const rec = (index: number, rank: number, success: boolean, label = 0): NeuronRecord => ({
    index,
    label,
    cleanPrediction: 0,
    adversarialPrediction: success ? 1 : 0,
    success,
    l2: 0,
    linf: 0,
    restart: 0,
    iteration: 0,
    neuron: rank,
    rank,
    delta: 1,
    deltaAchieved: false,
    active: true,
  });
  const fooledAt: Record<number, number[]> = {
    0: [1], // at rank 1
    1: [3], // only at rank 3: counts from k = 3 on, not for k = 1 or 2
    2: [], // never
    3: [2, 5], // first at rank 2
    4: [8], // only at the last rank
  };
  // records in shuffled order: the rates may not depend on it
  const records: NeuronRecord[] = [];
  for (let rank = 8; rank >= 1; rank--) {
    for (const [i, ranks] of Object.entries(fooledAt)) records.push(rec(Number(i), rank, ranks.includes(rank), Number(i) === 4 ? 1 : 0));
  }
  assert.deepEqual(knsSuccessRates(records, [1, 2, 3, 4, 8]), { 1: 1 / 5, 2: 2 / 5, 3: 3 / 5, 4: 3 / 5, 8: 4 / 5 });
  // over a subset of inputs (those whose label is 0: input 4 leaves the denominator too)
  assert.deepEqual(
    knsSuccessRates(records, [1, 2, 3, 8], (r) => r.label === 0),
    { 1: 1 / 4, 2: 2 / 4, 3: 3 / 4, 8: 3 / 4 },
  );
  // ranks the attack did not reach count as misses, not as errors; no records give rate 0
  assert.deepEqual(
    knsSuccessRates(
      records.filter((r) => r.rank <= 2),
      [1, 4],
    ),
    { 1: 1 / 5, 4: 2 / 5 },
  );
  assert.deepEqual(knsSuccessRates([], [1]), { 1: 0 });
});

test.after(() => {
  for (const t of fixture.tensors.values()) t.dispose();
});
