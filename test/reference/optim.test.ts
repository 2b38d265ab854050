// Optimizers and schedules against PyTorch trajectories (fixtures/generate_engine.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scope, type Tensor } from '../../src/index.js';
import * as optim from '../../src/optim/index.js';
import { engineFixture, fx, relErr } from '../support/helpers.js';

const { meta } = engineFixture();

function make(name: string, p: Tensor, kw: any): optim.Optimizer {
  const opts = { lr: kw.lr, momentum: kw.momentum, dampening: kw.dampening, weightDecay: kw.weight_decay, nesterov: kw.nesterov };
  if (name.startsWith('sgd')) return new optim.SGD([p], opts);
  const adam = {
    lr: kw.lr,
    betas: kw.betas as [number, number] | undefined,
    eps: kw.eps,
    weightDecay: kw.weight_decay,
    amsgrad: kw.amsgrad,
  };
  return name === 'adamw' ? new optim.AdamW([p], adam) : new optim.Adam([p], adam);
}

for (const [name, kw] of Object.entries(meta.optim) as [string, any][]) {
  test(`${name} ${JSON.stringify(kw)} follows PyTorch for three steps`, () => {
    scope(() => {
      const p = fx('optim.p0').clone().requiresGrad_();
      const a = fx('optim.a');
      const opt = make(name, p, kw);
      for (let step = 0; step < 3; step++) {
        scope(() => {
          opt.zeroGrad();
          p.mul(p).mul(a).sum().add(p.pow(3).mean()).backward();
          opt.step();
        });
        const e = relErr(p, fx(`optim.${name}.${step}`));
        assert.ok(e < 1e-6, `step ${step}: relative error ${e}`);
      }
    });
  });
}

test('optimizer state survives save/load: resumed steps equal uninterrupted ones', () => {
  scope(() => {
    const run = (resumeAt: number | null, load = true) => {
      const p = fx('optim.p0').clone().requiresGrad_();
      let opt: optim.Optimizer = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
      for (let step = 0; step < 4; step++) {
        if (step === resumeAt) {
          const state = opt.saveState();
          opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
          if (load) opt.loadState(state);
        }
        scope(() => {
          opt.zeroGrad();
          p.mul(p).mul(fx('optim.a')).sum().backward();
          opt.step();
        });
      }
      return p.toArray<'float32'>();
    };
    assert.deepEqual(run(2), run(null));
    // without the state the momentum restarts, so the trajectories differ
    assert.notDeepEqual(run(2, false), run(null));
  });
});

test('learning rate can be read and set', () => {
  scope(() => {
    const p = fx('optim.p0').clone().requiresGrad_();
    const opt = new optim.SGD([p], { lr: 0.1 });
    assert.equal(opt.lr, 0.1);
    opt.lr = 0.025;
    assert.equal(opt.lr, 0.025);
    assert.throws(() => {
      opt.lr = -1;
    }, /non-negative/);
    assert.throws(() => new optim.SGD([p], { lr: 0.1, nesterov: true }), /nesterov/);
    assert.throws(() => new optim.SGD([], { lr: 0.1 }), /empty parameter list/);
    assert.throws(() => new optim.Adam([p], { betas: [1.5, 0.9] }), /beta1/);
  });
});

test('schedules match torch.optim.lr_scheduler', () => {
  const s = meta.schedules;
  const check = (name: string, sched: optim.LRSchedule) => {
    (s[name] as number[]).forEach((want, t) => {
      assert.ok(Math.abs(sched.lr(t) - want) < 1e-9, `${name} step ${t}: ${sched.lr(t)} vs ${want}`);
    });
  };
  check('step', new optim.StepLR(0.1, 3, 0.5));
  check('multistep', new optim.MultiStepLR(0.1, [2, 5], 0.1));
  check('cosine', new optim.CosineLR(0.1, 10, 0.001));
  check('onecycle', new optim.OneCycleLR(0.2, 20));
  assert.throws(() => new optim.StepLR(0.1, 0), /stepSize/);
  assert.throws(() => new optim.OneCycleLR(0.1, 10).lr(10), /past/);
});
