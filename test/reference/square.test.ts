// Square Attack against the reference, fra31/auto-attack's square.py (fixtures/generate_square.py):
// the p schedule and the square sizes exactly; eta; the starts, candidates, margins, kept
// examples and query counts of runs whose random numbers are fixed (the reference fed one
// row's stream at a time, through torch.rand); every candidate inside its budget and [0, 1] on
// random models and inputs; robust accuracy against the reference's own runs, within the
// noise of the seeds; no tensor left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { noGrad, scope, setNumThreads, getNumThreads, liveTensors, rand, tensor, Generator, type Tensor } from '../../src/tensor/index.js';
import { loadSafetensors } from '../../src/serialization/safetensors.js';
import { TorchScriptClassifier } from '../../src/models/torchscript.js';
import type { ForwardOptions, ModelOutput } from '../../src/models/classifier.js';
import { BatchNorm2d, Conv2d } from '../../src/nn/layers.js';
import { createModel } from '../../src/models/zoo.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { sampleNorms } from '../../src/attacks/budget.js';
import type { Norm } from '../../src/attacks/threat.js';
import { squareAttack } from '../../src/attacks/square.js';
import { margins, squareRun } from '../../src/attacks/squareRun.js';
import { etaL2, pSelection, squareSide } from '../../src/attacks/squareSchedule.js';
import { GeneratorStream, type UniformStream } from '../../src/attacks/squareDraws.js';
import { ROOT, relErr } from '../support/helpers.js';

const fixture = loadSafetensors(join(ROOT, 'fixtures', 'square.safetensors'));
for (const t of fixture.tensors.values()) t.keep();
const meta = JSON.parse(fixture.metadata.json!) as {
  inputs: number;
  stats_queries: number;
  stats_seeds: number;
  schedules: { queries: number; p_init: number; rescale: boolean; changes: [number, number][] }[];
  sizes: { norm: Norm; shape: [number, number, number]; p_init: number; queries: number; rescale: boolean; p: number[]; side: number[] }[];
  scripted: Record<Norm, { eps: number; queries: number; rows: number; n_queries: number[] }>;
  robust: Record<Norm, { eps: number; robust_accuracy: number[] }>;
};
const fx = (k: string): Tensor => {
  const t = fixture.tensors.get(k);
  if (!t) throw new Error(`square.safetensors has no tensor ${k}`);
  return t;
};
const NORMS: Norm[] = ['linf', 'l2'];
const test10k = loadFashionMnist('test');

function withModel<T>(fn: (m: TorchScriptClassifier) => T): T {
  const threads = getNumThreads();
  // the reference ran on one thread: the same reduction orders
  setNumThreads(1);
  const m = new TorchScriptClassifier(join(ROOT, 'fixtures', 'square_model.pt'), { inputShape: [1, 28, 28], device: 'cpu' });
  try {
    return fn(m);
  } finally {
    m.dispose();
    setNumThreads(threads);
  }
}

/**
 * A small CNN with batch norm and random weights, its batch-norm statistics gathered from
 * test images (train-mode forwards without gradients), so that its predictions vary.
 */
function smallCnn(seed: number) {
  const model = createModel(
    { arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25, batchNorm: true },
    { generator: new Generator(seed) },
  );
  scope(() =>
    noGrad(() => {
      const calibration = test10k.loadSync([...Array(64).keys()].map((i) => 1000 + i));
      for (let k = 0; k < 30; k++) model.forward(calibration.images);
    }),
  );
  model.eval();
  return model;
}

/** A row's numbers from a fixed list, as the reference's torch.rand was fed them. */
class Scripted implements UniformStream {
  at = 0;
  constructor(readonly values: Float32Array) {}
  take(n: number): Float32Array {
    if (this.at + n > this.values.length) throw new Error('the scripted stream ran out');
    this.at += n;
    return this.values.slice(this.at - n, this.at);
  }
}

test('square: the p schedule is p_selection at every query', () => {
  for (const s of meta.schedules) {
    const changes: [number, number][] = [];
    for (let i = 0; i < s.queries; i++) {
      const p = pSelection(i, s.p_init, s.queries, s.rescale);
      if (i === 0 || p !== changes[changes.length - 1]![1]) changes.push([i, p]);
    }
    assert.deepEqual(changes, s.changes, `queries ${s.queries}, p_init ${s.p_init}, rescale ${s.rescale}`);
  }
});

test('square: the square sizes are those attack_single_run takes', () => {
  for (const s of meta.sizes) {
    const p = s.p.map((_, i) => pSelection(i, s.p_init, s.queries, s.rescale));
    assert.deepEqual(p, s.p);
    assert.deepEqual(
      p.map((v) => squareSide(v, s.shape, s.norm)),
      s.side,
      `${s.norm} [${s.shape}] p_init ${s.p_init}`,
    );
  }
});

test("square: eta (L2) is the reference's", () => {
  for (const [k, t] of fixture.tensors) {
    if (!k.startsWith('eta.')) continue;
    const s = Number(k.slice(4));
    scope(() => assert.ok(relErr(tensor(Float32Array.from(etaL2(s)), { shape: [s, s] }), t) < 1e-6, k));
  }
});

for (const norm of NORMS) {
  test(`square ${norm}: with the reference's numbers, the same start, candidates, margins, examples and queries`, () => {
    const m = meta.scripted[norm];
    withModel((model) =>
      scope(() => {
        const batch = test10k.loadSync([...Array(m.rows).keys()]);
        const streams = fx(`${norm}.stream`);
        const seen: { x: Tensor; rows: number[] }[] = [];
        const run = noGrad(() =>
          squareRun({
            logits: (x) => model.forward(x).logits,
            x0: batch.images,
            labels: batch.labels,
            norm,
            eps: m.eps,
            queries: m.queries,
            pInit: 0.8,
            rescaleSchedule: false,
            streams: [...Array(m.rows).keys()].map((r) => new Scripted(streams.select(0, r).toFloat32Array())),
            // kept: the run's own scopes would free them
            observe: (x, _x0, rows) => seen.push({ x: x.clone().keep(), rows: [...rows] }),
          }),
        );
        // the start and the first candidate: every row takes part in both here
        assert.deepEqual(seen[1]!.rows, [0, 1, 2, 3]);
        assert.ok(relErr(seen[0]!.x, fx(`${norm}.start`)) < 1e-5, 'start');
        assert.ok(relErr(seen[1]!.x, fx(`${norm}.first`)) < 1e-5, 'first candidate');
        // every candidate's margin, row by row; a row stops after the query that fooled it
        const want = fx(`${norm}.margins`).toFloat32Array();
        const got = Array.from({ length: m.rows }, () => [] as number[]);
        for (const { x, rows } of seen) {
          const v = noGrad(() =>
            margins(model.forward(x).logits, batch.labels.indexSelect(0, tensor(BigInt64Array.from(rows, BigInt)))),
          ).toFloat32Array();
          rows.forEach((r, k) => got[r]!.push(v[k]!));
        }
        for (let r = 0; r < m.rows; r++) {
          assert.equal(got[r]!.length, m.n_queries[r], `row ${r}: candidates`);
          got[r]!.forEach((v, t) =>
            assert.ok(
              Math.abs(v - want[r * (m.queries + 1) + t]!) < 1e-4 * Math.max(1, Math.abs(v)),
              `row ${r} query ${t}: margin ${v} vs ${want[r * (m.queries + 1) + t]}`,
            ),
          );
        }
        assert.deepEqual(Array.from(run.queries), m.n_queries);
        assert.ok(relErr(run.best, fx(`${norm}.best`)) < 1e-5, 'kept examples');
        // a fooled row's kept example is the candidate of its last query
        m.n_queries.forEach((q, r) => {
          if (run.margin[r]! <= 0) assert.equal(run.iteration[r], q - 1, `row ${r}`);
        });
        assert.ok(
          m.n_queries.some((q) => q < m.queries + 1) && m.n_queries.some((q) => q === m.queries + 1),
          'the fixture has fooled and unfooled rows',
        );
        for (const { x } of seen) x.dispose();
      }),
    );
  });
}

/** Every row of x [n, ...] within eps of x0 (relative 1e-5) and in [0, 1]. */
function assertInside(x: Tensor, x0: Tensor, norm: Norm, eps: number, what: string): void {
  scope(() => {
    assert.ok(x.min().item() >= 0 && x.max().item() <= 1, `${what}: pixels outside [0, 1]`);
    const n = sampleNorms(x.sub(x0), norm).toFloat32Array();
    n.forEach((v, r) => assert.ok(v <= eps * (1 + 1e-5), `${what}: row ${r} has ${norm} norm ${v} > ${eps}`));
  });
}

test('square: every candidate lies inside its budget and [0, 1] (random models and inputs)', () => {
  const shapes: [number, number, number][] = [
    [1, 28, 28],
    [3, 16, 16],
    [2, 10, 25],
  ];
  for (let trial = 0; trial < 6; trial++) {
    const g = new Generator(100 + trial);
    const [c, h, w] = shapes[trial % shapes.length]!;
    const norm = NORMS[trial % 2]!;
    const eps = norm === 'linf' ? 0.02 + 0.3 * rand([1], { generator: g }).item() : 0.2 + 3 * rand([1], { generator: g }).item();
    scope(() => {
      const n = 5;
      // a random linear classifier, and images near 0 and 1 so the clipping to [0, 1] bites
      const weight = rand([c * h * w, 10], { generator: g }).sub(0.5);
      const x0 = rand([n, c, h, w], { generator: g }).mul(3).sub(1).clamp(0, 1);
      const labels = noGrad(() => x0.flatten(1).matmul(weight).argmax(1));
      let count = 0;
      noGrad(() =>
        squareRun({
          logits: (x) => x.flatten(1).matmul(weight),
          x0,
          labels,
          norm,
          eps,
          queries: 60,
          pInit: 0.8,
          rescaleSchedule: trial % 3 === 0,
          streams: [...Array(n).keys()].map((r) => new GeneratorStream(new Generator(1000 * trial + r))),
          observe: (x, xs) => {
            count++;
            assertInside(x, xs, norm, eps, `trial ${trial} (${norm} eps ${eps.toFixed(3)} [${c}, ${h}, ${w}])`);
          },
        }),
      );
      assert.ok(count > 0);
    });
  }
  // and through the attack on a model with batch norm folded in
  const model = smallCnn(3);
  try {
    for (const norm of NORMS) {
      scope(() => {
        const eps = norm === 'linf' ? 0.1 : 2;
        const batch = test10k.loadSync([0, 1, 2, 3, 4, 5]);
        const labels = noGrad(() => model.forward(batch.images).logits.argmax(1));
        const out = squareAttack(
          model,
          { images: batch.images, labels, indices: batch.indices },
          { norm, eps, seed: 1, queries: 50, rowBatch: 4 },
        );
        assertInside(out.adversarial, batch.images, norm, eps, `small-cnn ${norm}`);
      });
    }
  } finally {
    model.dispose();
  }
});

test("square: an input's answer depends on neither the rows beside it nor the row batch", () => {
  const model = smallCnn(4);
  try {
    for (const norm of NORMS) {
      const c = { norm, eps: norm === 'linf' ? 0.05 : 1, seed: 9, queries: 40 };
      const run = (indices: number[], rowBatch?: number) =>
        scope(() => {
          const b = test10k.loadSync(indices);
          const labels = noGrad(() => model.forward(b.images).logits.argmax(1));
          const out = squareAttack(model, { images: b.images, labels, indices }, { ...c, ...(rowBatch ? { rowBatch } : {}) });
          return { records: out.records, queries: Array.from(out.queries), x: out.adversarial.toFloat32Array() };
        });
      const all = run([0, 1, 2, 3, 4, 5, 6, 7]);
      const some = run([5, 2, 7], 2);
      assert.ok(all.records.some((r) => r.success) && all.records.some((r) => !r.success), `${norm}: fooled and unfooled inputs`);
      [5, 2, 7].forEach((i, k) => {
        assert.deepEqual(some.records[k], all.records[i], `${norm}: input ${i}`);
        assert.equal(some.queries[k], all.queries[i]);
        assert.deepEqual(some.x.subarray(k * 784, (k + 1) * 784), all.x.subarray(i * 784, (i + 1) * 784));
      });
    }
  } finally {
    model.dispose();
  }
});

/**
 * The fixture's model with a convolution and batch norm beside it that it never uses, except to
 * tell when they are folded: then its top class loses `skew` of its logit, so the folded loop
 * sees margins <= 0 on examples the model as given classifies right.
 */
class FoldSkewed extends TorchScriptClassifier {
  readonly conv1 = new Conv2d(1, 1, 1);
  readonly bn1 = new BatchNorm2d(1);
  constructor(readonly skew: number) {
    super(join(ROOT, 'fixtures', 'square_model.pt'), { inputShape: [1, 28, 28], device: 'cpu' });
    this.registerModule('conv1', this.conv1);
    this.registerModule('bn1', this.bn1);
  }
  override forward(x: Tensor, o: ForwardOptions = {}): ModelOutput {
    const out = super.forward(x, o);
    if (!this.conv1.folded) return out;
    const top = out.logits.argmax(1, true);
    return { logits: out.logits.scatter(1, top, out.logits.gather(1, top).sub(this.skew)), features: out.features };
  }
}

test('square: an example the folded loop counted as fooled is judged by the model as given, and attacked again unfolded if it is not', () => {
  const model = new FoldSkewed(2);
  const batch = test10k.loadSync([...Array(16).keys()]);
  try {
    for (const norm of NORMS) {
      scope(() => {
        const queries = 100;
        const out = squareAttack(model, batch, { norm, eps: norm === 'linf' ? 0.05 : 1, seed: 0, queries });
        assert.ok((out.rejudged ?? 0) > 0, `${norm}: some rows were counted fooled by the folded loop only`);
        out.records.forEach((r, i) => {
          if (r.cleanPrediction !== r.label) return;
          // an input left unfooled ran every query (the unfolded run's count), a fooled one stopped at its fooling query
          assert.equal(out.queries[i], r.success ? r.iteration + 1 : queries + 1, `${norm} input ${i}`);
        });
      });
    }
  } finally {
    model.dispose();
    batch.images.dispose();
    batch.labels.dispose();
  }
});

/**
 * Robust accuracy over the fixture's inputs, Sauron's seeds against the reference's: the same
 * per-input success probabilities p_i on both sides (only the streams differ), so the
 * difference of the mean robust accuracies has variance sum_i p_i (1 - p_i) (1/k + 1/k_ref) / N^2;
 * p_i is estimated from both sides' outcomes pooled, and the difference must lie within 4
 * standard deviations.
 */
for (const norm of NORMS) {
  test(`square ${norm}: robust accuracy matches the reference's within the seeds' noise`, () => {
    const seeds = 3;
    const ref = fx(`${norm}.fooled`).toNumbers();
    const kRef = meta.stats_seeds;
    const n = meta.inputs;
    const eps = meta.robust[norm].eps;
    const fooled = new Array<number>(n).fill(0);
    withModel((model) => {
      const batch = test10k.loadSync([...Array(n).keys()]);
      try {
        const correct = fx('correct').toNumbers();
        for (let seed = 0; seed < seeds; seed++) {
          scope(() => {
            const before = liveTensors();
            const out = squareAttack(model, batch, { norm, eps, seed, queries: meta.stats_queries });
            out.records.forEach((r, i) => {
              fooled[i]! += r.success ? 1 : 0;
              assert.equal(r.cleanPrediction === r.label, correct[i] === 1, `input ${i}: clean prediction`);
              // queries: none for inputs already misclassified; the start and one per query until fooled
              const q = out.queries[i]!;
              if (!correct[i]) assert.equal(q, 0);
              else if (r.success) assert.equal(q, r.iteration + 1, `input ${i}: queries of a fooled input`);
              else assert.equal(q, meta.stats_queries + 1, `input ${i}: queries of an unfooled input`);
            });
            assertInside(out.adversarial, batch.images, norm, eps, `${norm} seed ${seed}`);
            assert.equal(liveTensors(), before + 1, 'only the examples are left');
          });
        }
      } finally {
        batch.images.dispose();
        batch.labels.dispose();
      }
    });
    let varSum = 0;
    let diff = 0;
    for (let i = 0; i < n; i++) {
      let refFooled = 0;
      for (let s = 0; s < kRef; s++) refFooled += ref[s * n + i]!;
      const p = (refFooled + fooled[i]!) / (kRef + seeds);
      varSum += p * (1 - p);
      diff += refFooled / kRef - fooled[i]! / seeds;
    }
    const sd = Math.sqrt(varSum * (1 / seeds + 1 / kRef)) / n;
    const ours = 1 - fooled.reduce((a, b) => a + b, 0) / (n * seeds);
    const theirs = meta.robust[norm].robust_accuracy.reduce((a, b) => a + b, 0) / kRef;
    assert.ok(
      Math.abs(diff / n) <= 4 * sd + 1e-12,
      `robust accuracy ${ours.toFixed(4)} vs the reference's ${theirs.toFixed(4)} (sd ${sd.toFixed(4)})`,
    );
    console.log(
      `square ${norm}: robust accuracy ${ours.toFixed(4)} (${seeds} seeds) vs the reference's ${theirs.toFixed(4)} (${kRef} seeds), ` +
        `sd of the difference ${sd.toFixed(4)}`,
    );
  });
}

test('square: no tensor is left behind, also when the model throws', () => {
  withModel((model) => {
    const batch = test10k.loadSync([0, 1, 2, 3]);
    try {
      for (const norm of NORMS) {
        const before = liveTensors();
        scope(() => {
          squareAttack(model, batch, { norm, eps: norm === 'linf' ? 0.05 : 1, seed: 0, queries: 30, restarts: 2 });
        });
        assert.equal(liveTensors(), before, norm);
      }
      const before = liveTensors();
      let calls = 0;
      assert.throws(
        () =>
          scope(() =>
            noGrad(() =>
              squareRun({
                logits: (x) => {
                  if (++calls === 5) throw new Error('boom');
                  return model.forward(x).logits;
                },
                x0: batch.images,
                labels: batch.labels,
                norm: 'l2',
                eps: 1,
                queries: 10,
                pInit: 0.8,
                rescaleSchedule: false,
                streams: [0, 1, 2, 3].map((r) => ({ take: (k: number) => new Float32Array(k).fill(0.25 + 0.1 * r) })),
              }),
            ),
          ),
        /boom/,
      );
      assert.equal(liveTensors(), before, 'after a throw');
    } finally {
      batch.images.dispose();
      batch.labels.dispose();
    }
  });
});
