// AutoAttack's cascade and versions: the versions against the reference's own objects
// (fixtures/generate_autoattack_versions.py); the cascade with stand-in components that count
// their calls: it attacks only inputs classified correctly that every earlier attack failed
// on, keeps each input's first fooling example, and its robust accuracy after each attack
// falls to the final one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scope, type ImageClassifier, type Tensor } from '../../src/index.js';
import { getDefaultDevice } from '../../src/tensor/index.js';
import { loadAnyModel } from '../../src/models/load.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import {
  autoAttack,
  autoAttackPlan,
  robustAccuracyByAttack,
  type AutoAttackVersion,
  type PlannedAttack,
  type RobustComponent,
} from '../../src/attacks/autoattack.js';
import { pgdAttack } from '../../src/attacks/pgd.js';
import type { RobustAttackName, RobustRecord } from '../../src/attacks/robustAttackTypes.js';
import type { Norm } from '../../src/attacks/threat.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { ROOT } from '../support/helpers.js';

const DEVICE = getDefaultDevice();

test("versions: the attacks, their order and settings are the reference's (autoattack.py set_version)", () => {
  const ref = JSON.parse(readFileSync(join(ROOT, 'fixtures', 'autoattack_versions.json'), 'utf8')) as Record<
    string,
    Record<string, unknown>[]
  >;
  const names: Record<string, string> = {
    n_restarts: 'restarts',
    n_iter: 'iterations',
    eot_iter: 'eotIter',
    rho: 'rho',
    use_largereps: 'largeReps',
    n_target_classes: 'targetClasses',
    n_queries: 'queries',
    p_init: 'pInit',
    attack: 'attack',
  };
  const norms: Record<string, Norm> = { Linf: 'linf', L2: 'l2', L1: 'l1' as Norm };
  assert.equal(Object.keys(ref).length, 12);
  for (const [key, attacks] of Object.entries(ref)) {
    const [norm, version] = key.split('/') as [string, AutoAttackVersion];
    const expected = attacks.map((a) => Object.fromEntries(Object.entries(a).map(([k, v]) => [names[k] ?? `unmapped ${k}`, v])));
    const custom = version === 'custom' ? attacks.map((a) => a.attack as string) : undefined;
    assert.deepEqual(autoAttackPlan(version, norms[norm]!, custom), expected, key);
  }
  assert.throws(() => autoAttackPlan('standard', 'linf', ['apgd-ce']), /needs version 'custom'/);
  assert.throws(() => autoAttackPlan('custom', 'linf', []), /needs a list of attacks/);
  assert.throws(
    () => autoAttackPlan('custom', 'linf', ['apgd-ce', 'pgd']),
    /unknown attack 'pgd' \(expected apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square\)/,
  );
  assert.throws(() => autoAttackPlan('custom', 'linf', ['square', 'square']), /listed twice/);
});

/** The control CNN of fixtures/generate_broken_models.py: trained briefly, it returns logits. */
function trainedModel(): ImageClassifier {
  return loadAnyModel(join(ROOT, 'fixtures', 'broken', 'plain.pt'), { inputShape: [1, 28, 28], device: DEVICE }).model;
}

/** Fashion-MNIST test images from `start`, with their labels (some misclassified by the model). */
function batchAt(start: number, n: number) {
  const b = loadFashionMnist('test').loadSync(Array.from({ length: n }, (_, i) => start + i));
  return { images: b.images.to(DEVICE), labels: b.labels.to(DEVICE), indices: b.indices };
}

interface Call {
  attack: RobustAttackName;
  indices: number[];
  /** The stand-in's answer: which of its rows it fooled, and its examples. */
  success: boolean[];
  adversarial: number[][];
}

/**
 * Stand-ins for the components: fixed-step PGD from a random start against the labels (each
 * attack with its own seed, so they fool different inputs), recording every call.
 */
function standIns(calls: Call[], iterations: number): Partial<Record<RobustAttackName, RobustComponent>> {
  const make =
    (attack: RobustAttackName, k: number): RobustComponent =>
    (model, batch, _p: PlannedAttack, base) => {
      const out = pgdAttack(model, batch, {
        norm: base.norm,
        eps: base.eps,
        iterations,
        restarts: 1,
        randomStart: true,
        seed: base.seed + 1000 * k,
        against: 'label',
      });
      calls.push({ attack, indices: [...batch.indices], success: out.records.map((r) => r.success), adversarial: rows(out.adversarial) });
      return out as { records: RobustRecord[]; adversarial: Tensor };
    };
  return Object.fromEntries((['apgd-ce', 'apgd-dlr', 'apgd-t', 'fab', 'fab-t', 'square'] as const).map((a, k) => [a, make(a, k)]));
}

function rows(t: Tensor): number[][] {
  const n = t.shape[0]!;
  const flat = Array.from(t.toFloat32Array());
  const d = flat.length / n;
  return Array.from({ length: n }, (_, i) => flat.slice(i * d, (i + 1) * d));
}

test("the cascade attacks only inputs still robust, keeps each input's first fooling example, and its robust accuracy falls to the final one", () => {
  const model = trainedModel();
  try {
    scope(() => {
      const b = batchAt(0, 24);
      const calls: Call[] = [];
      const eps = 0.03;
      const out = autoAttack(model, b, { version: 'plus', norm: 'linf', eps, seed: 7, components: standIns(calls, 4) });
      const labels = b.labels.toNumbers();
      const clean = noGrad(() => model.forward(b.images).logits.argmax(1)).toNumbers();
      const advRows = rows(out.adversarial);
      const cleanRows = rows(b.images);
      // every attack of the version ran in order, each on the inputs no earlier attack fooled
      const order = autoAttackPlan('plus', 'linf').map((p) => p.attack);
      assert.deepEqual(
        calls.map((c) => c.attack),
        order.slice(0, calls.length),
      );
      let robust = b.indices.filter((_, i) => clean[i] === labels[i]);
      assert.ok(robust.length >= 12 && robust.length < 24, `${robust.length} inputs classified correctly`);
      const firstFooled = new Map<number, { attack: RobustAttackName; example: number[] }>();
      for (const c of calls) {
        assert.deepEqual(c.indices, robust, `${c.attack} attacks exactly the inputs still robust`);
        c.indices.forEach((idx, k) => {
          if (c.success[k] && !firstFooled.has(idx)) firstFooled.set(idx, { attack: c.attack, example: c.adversarial[k]! });
        });
        robust = robust.filter((_idx, k) => !c.success[k]);
      }
      assert.ok(firstFooled.size > 0 && robust.length > 0, `fooled ${firstFooled.size}, robust ${robust.length}: the test needs both`);
      assert.ok(new Set([...firstFooled.values()].map((f) => f.attack)).size >= 2, 'more than one attack fooled an input');
      if (calls.length < order.length) assert.equal(robust.length, 0, 'the cascade stops only when no input is left');
      out.records.forEach((r, i) => {
        assert.equal(r.index, b.indices[i]);
        assert.equal(r.label, labels[i]);
        assert.equal(r.cleanPrediction, clean[i]);
        const f = firstFooled.get(r.index);
        assert.equal(r.fooledBy, f?.attack ?? null, `input ${r.index}`);
        // the worst case per row: the first fooling example, else the clean image
        assert.deepEqual(advRows[i], f ? f.example : cleanRows[i], `input ${r.index}'s example`);
        if (!f) assert.deepEqual([r.adversarialPrediction, r.l2, r.linf], [clean[i], 0, 0]);
        else
          assert.ok(r.adversarialPrediction !== r.label && r.linf > 0 && r.linf <= eps * (1 + 1e-5), `input ${r.index}: fooled within eps`);
      });
      // judged again by the model: the examples fool exactly the inputs named fooled
      const again = noGrad(() => model.forward(out.adversarial).logits.argmax(1)).toNumbers();
      out.records.forEach((r, i) => assert.equal(again[i], r.adversarialPrediction, `input ${r.index}`));
      const byAttack = robustAccuracyByAttack(out.records, order);
      assert.deepEqual(Object.keys(byAttack), ['clean', ...order]);
      const values = Object.values(byAttack);
      values.forEach((v, k) => k && assert.ok(v <= values[k - 1]!, `${Object.keys(byAttack)[k]} does not raise the robust accuracy`));
      assert.equal(values[0], clean.filter((c, i) => c === labels[i]).length / 24);
      assert.equal(values[values.length - 1], robust.length / 24);
      assert.ok(values[0]! > values[values.length - 1]!, 'the attacks lowered the accuracy');
    });
  } finally {
    model.dispose();
  }
});

test("an input's outcome does not depend on its batch: the cascade on halves gives the whole batch's records and examples", () => {
  const model = trainedModel();
  try {
    scope(() => {
      const b = batchAt(40, 16);
      const run = (images: Tensor, labels: Tensor, indices: number[]) =>
        autoAttack(model, { images, labels, indices }, { version: 'standard', norm: 'l2', eps: 0.5, seed: 2, components: standIns([], 3) });
      const whole = run(b.images, b.labels, b.indices);
      const halves = [0, 8].map((s) => run(b.images.narrow(0, s, 8), b.labels.narrow(0, s, 8), b.indices.slice(s, s + 8)));
      assert.deepEqual(
        halves.flatMap((h) => h.records),
        whole.records,
      );
      assert.deepEqual(
        halves.flatMap((h) => rows(h.adversarial)),
        rows(whole.adversarial),
      );
      assert.ok(
        whole.records.some((r) => r.fooledBy) && whole.records.some((r) => !r.fooledBy && r.cleanPrediction === r.label),
        'some inputs fooled, some robust',
      );
    });
  } finally {
    model.dispose();
  }
});

test('a component that answers for other inputs, or outside its budget, is an error, not a result', () => {
  const model = trainedModel();
  try {
    scope(() => {
      const b = batchAt(0, 6);
      const base = { version: 'custom' as const, attacks: ['apgd-ce'] as RobustAttackName[], norm: 'linf' as Norm, eps: 0.05, seed: 0 };
      const shuffled: RobustComponent = (m, batch, _p, c) => {
        const out = pgdAttack(m, batch, {
          norm: c.norm,
          eps: c.eps,
          iterations: 1,
          restarts: 1,
          randomStart: true,
          seed: 0,
          against: 'label',
        });
        return { records: [...out.records].reverse(), adversarial: out.adversarial };
      };
      assert.throws(
        () => autoAttack(model, b, { ...base, components: { 'apgd-ce': shuffled } }),
        /apgd-ce: record 0 is input \d+, expected \d+/,
      );
      const tooFar: RobustComponent = (m, batch, _p, c) => {
        const out = pgdAttack(m, batch, {
          norm: c.norm,
          eps: 2 * c.eps,
          iterations: 5,
          restarts: 1,
          randomStart: true,
          seed: 0,
          against: 'label',
        });
        return { records: out.records.map((r) => ({ ...r, success: true })), adversarial: out.adversarial };
      };
      assert.throws(() => autoAttack(model, b, { ...base, components: { 'apgd-ce': tooFar } }), /perturbation of linf norm .* > eps 0.05/);
    });
  } finally {
    model.dispose();
  }
});
