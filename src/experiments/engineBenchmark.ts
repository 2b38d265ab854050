// Engine speed: a training step and an input-gradient step of a zoo model, timed per step.
import { performance } from 'node:perf_hooks';
import { createModel } from '../models/zoo.js';
import * as F from '../nn/functional.js';
import { SGD } from '../optim/optimizer.js';
import { grad } from '../tensor/autograd.js';
import { rand, randint } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { getNumThreads, libtorchVersion } from '../tensor/runtime.js';
import { scope } from '../tensor/scope.js';
import { autocast, autocastDtype, builtWithCuda, synchronize, type Device, type Precision } from '../tensor/device.js';

export interface EngineBenchOptions {
  arch: string;
  inputShape: [number, number, number];
  classes: number;
  batch: number;
  steps: number;
  warmup?: number;
  width?: number;
  device?: Device;
  precision?: Precision;
}

export interface EngineBenchResult {
  arch: string;
  inputShape: number[];
  classes: number;
  batch: number;
  steps: number;
  /** forward + backward + SGD step, median over steps (ms). */
  trainStepMs: number;
  /** forward + gradient w.r.t. the input only, eval mode, median (ms). */
  inputGradStepMs: number;
  trainStepMsAll: number[];
  inputGradStepMsAll: number[];
  /** Host time to issue a step (before waiting for the device), median (ms): near the step time means host-bound. */
  trainIssueMs: number;
  inputGradIssueMs: number;
  threads: number;
  libtorch: string;
  engine: 'sauron';
  device: Device;
  precision: Precision;
  cudaBuild: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function benchEngine(o: EngineBenchOptions): EngineBenchResult {
  if (!(Number.isInteger(o.steps) && o.steps > 0)) throw new RangeError(`steps must be a positive integer, got ${o.steps}`);
  if (!(Number.isInteger(o.batch) && o.batch > 0)) throw new RangeError(`batch must be a positive integer, got ${o.batch}`);
  const device = o.device ?? 'cpu';
  const precision = o.precision ?? 'fp32';
  const half = autocastDtype(precision);
  const g = new Generator(0);
  const model = createModel({ arch: o.arch, inputShape: o.inputShape, numClasses: o.classes, width: o.width }, { generator: g, device });
  const x = rand([o.batch, ...o.inputShape], { generator: g })
    .to(device)
    .keep();
  const y = randint(0, o.classes, [o.batch], { generator: g }).to(device).keep();
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const warmup = o.warmup ?? 2;
  const train: number[] = [];
  const inputGrad: number[] = [];
  const trainIssue: number[] = [];
  const inputGradIssue: number[] = [];
  try {
    model.train();
    for (let i = 0; i < warmup + o.steps; i++) {
      const t0 = performance.now();
      scope(() => {
        opt.zeroGrad();
        autocast(device, half, () => F.crossEntropy(model.forward(x).logits, y)).backward();
        opt.step();
      });
      const issued = performance.now() - t0;
      // GPU work is queued: a step ends when the device has finished it.
      synchronize(device);
      if (i >= warmup) {
        train.push(performance.now() - t0);
        trainIssue.push(issued);
      }
    }
    model.eval();
    for (let i = 0; i < warmup + o.steps; i++) {
      const t0 = performance.now();
      scope(() => {
        const xa = x.detach().requiresGrad_();
        grad(
          autocast(device, half, () => F.crossEntropy(model.forward(xa).logits, y)),
          xa,
        );
      });
      const issued = performance.now() - t0;
      synchronize(device);
      if (i >= warmup) {
        inputGrad.push(performance.now() - t0);
        inputGradIssue.push(issued);
      }
    }
  } finally {
    model.dispose();
    x.dispose();
    y.dispose();
  }
  return {
    arch: o.arch,
    inputShape: o.inputShape,
    classes: o.classes,
    batch: o.batch,
    steps: o.steps,
    trainStepMs: median(train),
    inputGradStepMs: median(inputGrad),
    trainStepMsAll: train,
    inputGradStepMsAll: inputGrad,
    trainIssueMs: median(trainIssue),
    inputGradIssueMs: median(inputGradIssue),
    threads: getNumThreads(),
    libtorch: libtorchVersion,
    engine: 'sauron',
    device,
    precision,
    cudaBuild: builtWithCuda,
  };
}
