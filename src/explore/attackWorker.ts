// The body of an attack worker thread: loads the model and the one input, runs a neuron
// attack (k-NS on the one chosen neuron, through the library's knsAttack, at the rank that
// neuron has for this input) or PGD, and posts the outcome with both images. One job per
// worker, so cancelling is terminating the thread, and the server's event loop never runs an
// attack.
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel } from '../models/runFolder.js';
import { openDataset } from '../data/registry.js';
import type { Split } from '../data/dataset.js';
import { scope } from '../tensor/scope.js';
import { noGrad } from '../tensor/autograd.js';
import { withEval } from '../nn/module.js';
import { delta } from '../analysis/delta.js';
import { rankNeurons, scaleDeltas } from '../analysis/scaled.js';
import { knsAttack } from '../attacks/kns.js';
import { pgdAttack } from '../attacks/pgd.js';
import { resolveFakeRelu } from '../attacks/defaults.js';
import type { AttackOutcome, AttackRequest } from './apiTypes.js';
import { testPause } from '../serialization/testPause.js';

export interface WorkerInput {
  modelDir: string;
  dataset: { name: string; split: Split; data?: string; imageSize?: number };
  /** Data-set position of the input. */
  index: number;
  request: AttackRequest;
  featureMean: Float32Array;
  featureStd: Float32Array;
}

export type WorkerMessage =
  | { type: 'phase'; phase: string }
  | { type: 'progress'; fraction: number }
  | { type: 'done'; outcome: AttackOutcome; clean: Float32Array; adversarial: Float32Array; shape: number[] }
  | { type: 'error'; message: string };

async function run(w: WorkerInput): Promise<WorkerMessage> {
  const post = (phase: string) => parentPort!.postMessage({ type: 'phase', phase } satisfies WorkerMessage);
  post('loading model');
  const { model } = loadModel(w.modelDir);
  try {
    const ds = await openDataset(w.dataset.name, w.dataset.split, { data: w.dataset.data, imageSize: w.dataset.imageSize });
    const batch = await ds.load([w.index]);
    post('attacking');
    const r = w.request;
    // Progress without hooks in the attacks: each iteration runs the model forward once, so
    // counting forward passes (a few more for the clean and final evaluations) tracks them.
    const forward = model.forward.bind(model);
    let passes = 0;
    let reported = 0;
    model.forward = (x, o) => {
      passes++;
      testPause(`explore attack pass ${passes}`);
      const now = Date.now();
      if (now - reported > 150) {
        reported = now;
        parentPort!.postMessage({ type: 'progress', fraction: Math.min(0.99, passes / (r.iterations + 3)) } satisfies WorkerMessage);
      }
      return forward(x, o);
    };
    return scope(() => {
      const images = batch.images;
      const b = { images, labels: batch.labels, indices: [w.index] };
      let out: AttackOutcome;
      let adversarial: Float32Array;
      if (r.attack === 'kns') {
        const neuron = r.neuron!;
        // the neuron's place in this input's ranking, computed as knsAttack ranks
        const clean = withEval(model, () => noGrad(() => model.forward(images)));
        const d = delta(clean.logits, clean.features, model.classifier.weight).t().contiguous();
        const ranking = rankNeurons(scaleDeltas(d, w.featureMean, w.featureStd, 0)).toNumbers();
        const rankStart = ranking.indexOf(neuron);
        const res = knsAttack(model, b, {
          norm: r.norm,
          eps: r.eps,
          iterations: r.iterations,
          seed: 0,
          rankStart,
          rankCount: 1,
          fakeRelu: resolveFakeRelu('auto', model.config.arch),
          featureMean: w.featureMean,
          featureStd: w.featureStd,
        });
        const record = res.records[0]!;
        if (record.neuron !== neuron) throw new Error(`the attack targeted neuron ${record.neuron}, not ${neuron}`);
        const after = withEval(model, () => noGrad(() => model.forward(res.adversarial)));
        const zClean = clean.features.toFloat32Array()[neuron]!;
        out = {
          record,
          probabilities: after.logits.softmax(1).toNumbers(),
          activation: {
            clean: zClean,
            adversarial: after.features.toFloat32Array()[neuron]!,
            target: Number.isFinite(record.delta) ? zClean + record.delta : null,
          },
        };
        adversarial = res.adversarial.toFloat32Array();
      } else {
        const res = pgdAttack(model, b, { norm: r.norm, eps: r.eps, iterations: r.iterations, seed: 0, restarts: 1, randomStart: true });
        const after = withEval(model, () => noGrad(() => model.forward(res.adversarial)));
        out = { record: res.records[0]!, probabilities: after.logits.softmax(1).toNumbers() };
        adversarial = res.adversarial.toFloat32Array();
      }
      const msg: WorkerMessage = { type: 'done', outcome: out, clean: images.toFloat32Array(), adversarial, shape: images.shape.slice(1) };
      batch.images.dispose();
      batch.labels.dispose();
      return msg;
    });
  } finally {
    model.dispose();
  }
}

if (parentPort) {
  run(workerData as WorkerInput).then(
    (m) => parentPort!.postMessage(m),
    (e) => parentPort!.postMessage({ type: 'error', message: (e as Error).message } satisfies WorkerMessage),
  );
}
