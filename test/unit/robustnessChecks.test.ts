// The checks of a trustworthy evaluation: each fires on a model built to trip it
// (fixtures/generate_broken_models.py: input quantisation, softmax output, dropout kept on),
// and none fires on the default model, trained here as `sauron train` trains it, briefly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scope, type ImageClassifier } from '../../src/index.js';
import { getDefaultDevice } from '../../src/tensor/index.js';
import { loadAnyModel } from '../../src/models/load.js';
import { loadModel } from '../../src/models/runFolder.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { train } from '../../src/training/train.js';
import { DEFAULTS } from '../../src/training/config.js';
import { autoAttack, autoAttackPlan, robustAccuracyByAttack, type RobustComponent } from '../../src/attacks/autoattack.js';
import { pgdAttack } from '../../src/attacks/pgd.js';
import {
  CHECK_INPUTS,
  classCountCheck,
  modelChecks,
  randomizedCheck,
  softmaxOutputCheck,
  squareSuccessCheck,
  type CheckResult,
} from '../../src/attacks/robustnessChecks.js';
import type { Norm } from '../../src/attacks/threat.js';
import { ROOT } from '../support/helpers.js';

const DEVICE = getDefaultDevice();
const root = mkdtempSync(join(tmpdir(), 'sauron-checks-'));
after(() => rmSync(root, { recursive: true, force: true }));

function broken(name: string): ImageClassifier {
  return loadAnyModel(join(ROOT, 'fixtures', 'broken', `${name}.pt`), { inputShape: [1, 28, 28], device: DEVICE }).model;
}

/** The first `n` Fashion-MNIST test images and labels on the models' device. */
function inputs(n = CHECK_INPUTS) {
  const b = loadFashionMnist('test').loadSync(Array.from({ length: n }, (_, i) => i));
  return { images: b.images.to(DEVICE), labels: b.labels.to(DEVICE), indices: b.indices };
}

const fired = (cs: CheckResult[]) => cs.filter((c) => c.fired).map((c) => c.id);
const BUDGETS: [Norm, number][] = [
  ['linf', 0.02],
  ['l2', 0.5],
];
const plan = autoAttackPlan('standard', 'linf');

function oneLine(cs: CheckResult[]): void {
  for (const c of cs) assert.ok(c.message.length > 20 && !c.message.includes('\n'), `${c.id}: ${c.message}`);
}

test('quantised inputs (zero gradients): the zero-gradient, eps-sweep, unbounded-budget and loss checks fire, the others do not', () => {
  const m = broken('quantized');
  try {
    scope(() => {
      for (const [norm, eps] of BUDGETS) {
        const cs = modelChecks(m, inputs(), { norm, eps, plan });
        assert.deepEqual(
          fired(cs),
          ['zero-gradient', 'eps-sweep', 'unbounded-budget', 'loss-increase'],
          `${norm}: ${cs.map((c) => c.message).join('\n')}`,
        );
        oneLine(cs);
      }
    });
  } finally {
    m.dispose();
  }
});

test('softmax output: the output-range check fires', () => {
  const m = broken('softmax');
  try {
    scope(() => {
      const c = softmaxOutputCheck(m, inputs());
      assert.ok(c.fired, c.message);
      assert.match(c.message, /returns probabilities, not logits/);
      assert.ok(fired(modelChecks(m, inputs(), { norm: 'linf', eps: 0.02, plan })).includes('softmax-output'));
    });
  } finally {
    m.dispose();
  }
});

test('dropout kept on in eval mode: the randomness check fires and says to use --version rand; version rand leaves it out', () => {
  const m = broken('dropout');
  try {
    scope(() => {
      const c = randomizedCheck(m, inputs());
      assert.ok(c.fired, c.message);
      assert.match(c.message, /--version rand/);
      assert.ok(!modelChecks(m, inputs(), { norm: 'linf', eps: 0.02, plan, random: true }).some((x) => x.id === 'randomized'));
    });
  } finally {
    m.dispose();
  }
});

test("Square beating the white-box attacks: the reference's rule (alpha 0.002 below the lowest other accuracy), and on the quantised model", () => {
  assert.ok(squareSuccessCheck({ clean: 0.9, 'apgd-ce': 0.5, 'apgd-t': 0.45, square: 0.44 }).fired);
  assert.ok(!squareSuccessCheck({ clean: 0.9, 'apgd-ce': 0.5, 'apgd-t': 0.45, square: 0.449 }).fired, 'within alpha');
  assert.ok(!squareSuccessCheck({ clean: 0.9, square: 0.4 }).fired, 'Square alone: nothing to compare with');
  assert.ok(!squareSuccessCheck({ clean: 0.9, 'apgd-ce': 0.5 }).fired, 'no Square');
  // the real Square after a gradient attack (PGD from the clean input standing in for APGD-CE,
  // which costs 500 steps per input): the rounding stops the one, not the other
  const m = broken('quantized');
  try {
    scope(() => {
      const attacks = ['apgd-ce', 'square'] as const;
      const gradient: RobustComponent = (model, batch, _p, c) =>
        pgdAttack(model, batch, { norm: c.norm, eps: c.eps, iterations: 10, restarts: 1, randomStart: false, against: 'label', seed: 0 });
      const out = autoAttack(m, inputs(8), {
        version: 'custom',
        attacks: [...attacks],
        norm: 'linf',
        eps: 0.3,
        seed: 0,
        components: { 'apgd-ce': gradient },
      });
      const c = squareSuccessCheck(robustAccuracyByAttack(out.records, [...attacks]));
      assert.ok(c.fired, c.message);
      assert.ok(
        out.records.every((r) => r.fooledBy !== 'apgd-ce'),
        'the gradient attack cannot move through the rounding',
      );
    });
  } finally {
    m.dispose();
  }
});

test('too few classes for the targets: the class-count check fires', () => {
  assert.ok(!classCountCheck(10, plan).fired);
  assert.match(
    classCountCheck(5, plan).message,
    /APGD-T uses 9 target classes, 4 are possible; FAB-T uses 9 target classes, 4 are possible/,
  );
  assert.match(classCountCheck(3, autoAttackPlan('plus', 'l2')).message, /targeted DLR loss needs at least 4 classes/);
  assert.match(classCountCheck(2, autoAttackPlan('rand', 'l2')).message, /DLR loss needs at least 3 classes/);
  assert.ok(!classCountCheck(2, autoAttackPlan('custom', 'l2', ['apgd-ce', 'fab', 'square'])).fired);
});

test('no check fires on the default model, trained briefly', async () => {
  const run = join(root, 'default');
  await train(
    { ...DEFAULTS['fashion-mnist']!, method: 'standard', dataset: 'fashion-mnist', epochs: 1, limit: 2048, testLimit: 256, seed: 1 },
    { out: run },
  );
  const { model } = loadModel(run, { device: DEVICE });
  try {
    scope(() => {
      const b = inputs();
      for (const [norm, eps] of BUDGETS) {
        const cs = modelChecks(model, b, { norm, eps, plan });
        assert.equal(cs.length, 7);
        assert.deepEqual(fired(cs), [], `${norm}: ${cs.map((c) => c.message).join('\n')}`);
        oneLine(cs);
      }
      // Square after the standard version's white-box attacks (on a few inputs: 5000 queries per robust one)
      const out = autoAttack(model, inputs(8), { version: 'standard', norm: 'linf', eps: 0.08, seed: 0 });
      const byAttack = robustAccuracyByAttack(
        out.records,
        plan.map((p) => p.attack),
      );
      assert.ok(byAttack['fab-t']! > 0, 'some inputs were left for Square');
      const c = squareSuccessCheck(byAttack);
      assert.ok(!c.fired, c.message);
    });
  } finally {
    model.dispose();
  }
});
