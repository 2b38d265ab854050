// Numerical agreement with PyTorch (fixtures made by fixtures/generate_engine.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, scope, type Tensor } from '../../src/index.js';
import { grad, setNumThreads } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { engineFixture, fx, relErr } from '../support/helpers.js';

const TOL = 1e-5;
// Summation order differs between thread counts; in training-mode batch norm over a tiny
// batch that rounding alone reaches ~1e-5. One thread sums in the fixture's order.
setNumThreads(1);

function close(name: string, a: Tensor, b: Tensor, tol = TOL, scale = 0): void {
  const e = relErr(a, b, scale);
  assert.ok(e < tol, `${name}: relative error ${e.toExponential(2)} >= ${tol}`);
}

const { meta } = engineFixture();

for (const [name, spec] of Object.entries(meta.models) as [string, any][]) {
  test(`${name} (${spec.arch}) matches PyTorch: forward, input gradient, parameter gradients, BN statistics`, () => {
    const model = createModel({ arch: spec.arch, inputShape: spec.shape, numClasses: spec.classes, width: spec.width });
    try {
      scope(() => {
        const state = new Map<string, Tensor>();
        for (const [k, t] of engineFixture().tensors) if (k.startsWith(`${name}.state.`)) state.set(k.slice(name.length + 7), t);
        // strict: every PyTorch key must exist in Sauron's model and vice versa
        model.loadStateDict(state);
        const x = fx(`${name}.x`);
        const y = fx(`${name}.y`);

        model.eval();
        const ev = model.forward(x);
        close('eval logits', ev.logits, fx(`${name}.eval.logits`));
        close('eval features', ev.features, fx(`${name}.eval.features`));
        const xe = x.detach().requiresGrad_();
        const [gEval] = grad(F.crossEntropy(model.forward(xe).logits, y), xe);
        close('eval input gradient', gEval!, fx(`${name}.eval.input_grad`));

        model.train();
        const xt = x.detach().requiresGrad_();
        const tr = model.forward(xt);
        close('train logits', tr.logits, fx(`${name}.train.logits`));
        close('train features', tr.features, fx(`${name}.train.features`));
        const loss = F.crossEntropy(tr.logits, y);
        close('train loss', loss.reshape([1]), fx(`${name}.train.loss`));
        loss.backward();
        close('train input gradient', xt.grad!, fx(`${name}.train.input_grad`));
        // Biases of convolutions followed by batch norm have a true gradient of zero: PyTorch's
        // values there are rounding noise, so errors are measured against the model's
        // largest gradient instead of that tensor's own.
        const params = model.namedParameters();
        const scale = Math.max(...params.map(([k]) => fx(`${name}.grad.${k}`).abs().max().item()));
        let checked = 0;
        for (const [k, p] of params) {
          close(`gradient of ${k}`, p.grad!, fx(`${name}.grad.${k}`), TOL, k.endsWith('bias') ? scale : 0);
          checked++;
        }
        assert.ok(checked >= 4);
        for (const [k, b] of model.namedBuffers()) {
          if (k.endsWith('running_mean') || k.endsWith('running_var')) close(`buffer ${k}`, b, fx(`${name}.after.${k}`));
        }
      });
    } finally {
      model.dispose();
    }
  });
}
