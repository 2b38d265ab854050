// FAB's judging forward gives the gradients of the rows that go on from the iterate it judged
// (src/attacks/fabSchedule.ts), where the convolution stack runs; elsewhere every row runs a
// forward of its own. Both ways must give the same answers bit for bit, as the stack and the
// layers do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/models/zoo.js';
import { fabAttack } from '../../src/attacks/fab.js';
import { convStackAvailable, setConvStackEnabled } from '../../src/nn/convStack.js';
import { convStackBackwardRows } from '../../src/tensor/convStack.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { rand } from '../../src/tensor/creation.js';
import { Generator } from '../../src/tensor/random.js';
import { scope } from '../../src/tensor/scope.js';

const skip = convStackAvailable() ? false : "the addon was built without oneDNN's headers (libdnnl-dev)";

test("FAB-T and FAB give the same records and examples whether the judging forward's graph gives gradients or not", { skip }, () => {
  const model = createModel(
    { arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.25 },
    { generator: new Generator(3) },
  ).eval();
  scope(() => {
    const images = rand([24, 1, 28, 28], { generator: new Generator(4) });
    // every input classified correctly, so every input is attacked
    const labels = noGrad(() => model.forward(images).logits.argmax(1));
    const indices = Array.from({ length: 24 }, (_, i) => i);
    for (const [norm, eps, targeted] of [
      ['linf', 0.3, true],
      ['l2', 6, false],
    ] as const) {
      const c = { norm, eps, seed: 0, targeted, iterations: 20, targetClasses: 3 };
      const before = convStackBackwardRows();
      const reused = fabAttack(model, { images, labels, indices }, c);
      assert.ok(convStackBackwardRows() > before, `${norm}: the stack's backward ran`);
      const was = setConvStackEnabled(false);
      const apart = (() => {
        try {
          return fabAttack(model, { images, labels, indices }, c);
        } finally {
          setConvStackEnabled(was);
        }
      })();
      assert.deepEqual(reused.records, apart.records, `${norm}: records`);
      assert.ok(reused.records.some((r) => r.success) && reused.records.some((r) => !r.success), `${norm}: some inputs fooled, some not`);
      assert.deepEqual(reused.adversarial.toArray(), apart.adversarial.toArray(), `${norm}: examples`);
    }
  });
});
