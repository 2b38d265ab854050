// The explorer's typed operations, one per API route: the HTTP layer (server.ts) only parses
// URLs and bodies and turns HttpErrors into status codes. Usable from code without a server.
import { scanFolders, type Sources } from './catalog.js';
import { autoAttackOutcomes, inputRanking, ModelData, type DataOptions, type Loaded } from './modelView.js';
import { JobQueue } from './jobs.js';
import { histogram, modelInfo, summaryOf } from './apiViews.js';
import { reproduceInfo } from './reproduceView.js';
import { imagePng, perturbationPng } from '../reports/images.js';
import { badRequest, enumParam, intParam, notFound, numberParam } from './validate.js';
import { NORMS } from '../attacks/budget.js';
import type {
  AttackRequest,
  Catalog,
  Distribution,
  InputDetail,
  InputPage,
  InputSummary,
  JobInfo,
  NeuronDetail,
  ReproduceInfo,
} from './apiTypes.js';

/** What the explorer serves: the folders it scans for run, sensitivity, attack and reproduce results. */
export interface ExplorerOptions extends DataOptions {
  folders: string[];
  /** Attacks running at once (default 2). */
  concurrency?: number;
}

/** Largest budget and iteration count a live attack accepts (inputs are in [0, 1]). */
export const LIMITS = { eps: { l2: 100, linf: 1 }, iterations: 1000, pageSize: 500 } as const;

export class Explorer {
  readonly sources: Sources;
  readonly models = new Map<string, ModelData>();
  readonly jobs: JobQueue;

  constructor(readonly options: ExplorerOptions) {
    this.sources = scanFolders(options.folders);
    for (const s of this.sources.models) this.models.set(s.id, new ModelData(s, options));
    this.jobs = new JobQueue(options.concurrency ?? 2);
  }

  #reproduce: ReproduceInfo[] | null = null;

  catalog(): Catalog {
    // the charts' densities are computed once; the folders are results, not expected to change
    this.#reproduce ??= this.sources.reproduce.map((r) => reproduceInfo(r.dir, r.id, this.sources.roots));
    return { models: [...this.models.values()].map(modelInfo), reproduce: this.#reproduce };
  }

  model(id: string): ModelData {
    const m = this.models.get(id);
    if (!m) throw notFound(`no model '${id}' (known: ${[...this.models.keys()].join(', ')})`);
    return m;
  }

  async #loaded(id: string): Promise<Loaded> {
    return this.model(id).load();
  }

  async inputs(id: string, q: URLSearchParams): Promise<InputPage> {
    const m = this.model(id);
    const l = await m.load();
    const offset = intParam('offset', q.get('offset'), 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = intParam('limit', q.get('limit'), 1, LIMITS.pageSize, 48);
    const cls = q.get('class') ? intParam('class', q.get('class'), 0, l.classes - 1) : null;
    const correct = enumParam('correct', q.get('correct'), ['any', 'correct', 'wrong'] as const, 'any');
    const fooled = enumParam('fooled', q.get('fooled'), ['any', 'pgd', 'kns', 'autoattack', 'neither'] as const, 'any');
    if (fooled !== 'any' && fooled !== 'neither' && !m.attacks.some((a) => a.family === fooled)) {
      throw badRequest(`fooled=${fooled}: model '${id}' has no ${fooled} attack folder`);
    }
    const items: InputSummary[] = [];
    let total = 0;
    for (let j = 0; j < l.count; j++) {
      const s = summaryOf(m, l, j);
      if (cls !== null && s.label !== cls) continue;
      if (correct !== 'any' && s.correct !== (correct === 'correct')) continue;
      if (fooled === 'pgd' && !s.fooledPgd) continue;
      if (fooled === 'kns' && !s.fooledKns) continue;
      if (fooled === 'autoattack' && !s.fooledAutoAttack) continue;
      if (fooled === 'neither' && (s.fooledPgd || s.fooledKns || s.fooledAutoAttack)) continue;
      if (total >= offset && items.length < limit) items.push(s);
      total++;
    }
    return { total, offset, items };
  }

  async input(id: string, rawIndex: string, top = 64): Promise<InputDetail> {
    const m = this.model(id);
    const l = await m.load();
    const j = intParam('input', rawIndex, 0, l.count - 1);
    const logits = l.logits.subarray(j * l.classes, (j + 1) * l.classes);
    const mx = Math.max(...logits);
    const e = Array.from(logits, (v) => Math.exp(v - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    const { deltas, scaled, ranking } = inputRanking(l, j);
    const finite = (v: number) => (Number.isFinite(v) ? v : null);
    return {
      ...summaryOf(m, l, j),
      datasetIndex: j,
      probabilities: e.map((v) => v / sum),
      neurons: ranking.slice(0, top).map((n, r) => ({
        neuron: n,
        rank: r + 1,
        delta: finite(deltas[n]!),
        scaled: finite(scaled[n]!),
        activation: l.features[j * l.featureDim + n]!,
      })),
      autoAttack: autoAttackOutcomes(m, j),
    };
  }

  async inputImage(id: string, rawIndex: string): Promise<Buffer> {
    const l = await this.#loaded(id);
    const j = intParam('input', rawIndex, 0, l.count - 1);
    const b = await l.dataset.load([j]);
    try {
      return await imagePng(b.images.toFloat32Array(), b.images.shape.slice(1));
    } finally {
      b.images.dispose();
      b.labels.dispose();
    }
  }

  async neuron(id: string, rawNeuron: string): Promise<NeuronDetail> {
    const l = await this.#loaded(id);
    const f = intParam('neuron', rawNeuron, 0, l.featureDim - 1);
    const n = l.count;
    const d = l.deltas.subarray(f * n, (f + 1) * n);
    const z = Float32Array.from({ length: n }, (_, j) => l.features[j * l.featureDim + f]!);
    const w = l.model.classifier.weight.toFloat32Array(); // [classes, features]
    const weights = Array.from({ length: l.classes }, (_, c) => w[c * l.featureDim + f]!);
    // pruning the neuron: its column of the classifier is zeroed, so logits lose w[:, f] * z_f
    let correct = 0;
    let prunedCorrect = 0;
    for (let j = 0; j < n; j++) {
      let best = 0;
      let bestV = -Infinity;
      for (let c = 0; c < l.classes; c++) {
        const v = l.logits[j * l.classes + c]! - weights[c]! * z[j]!;
        if (v > bestV) [best, bestV] = [c, v];
      }
      if (l.predictions[j] === l.labels[j]) correct++;
      if (best === l.labels[j]) prunedCorrect++;
    }
    const order = Array.from(z.keys())
      .sort((a, b) => z[b]! - z[a]!)
      .slice(0, 12);
    return {
      neuron: f,
      summary: l.summary?.neurons[f] ?? null,
      deltaHistogram: histogram(d),
      infiniteDeltas: d.filter((v) => !Number.isFinite(v)).length,
      activationHistogram: histogram(z),
      topInputs: order.map((j) => ({ index: j, activation: z[j]!, label: l.labels[j]!, prediction: l.predictions[j]! })),
      weights,
      topKCount: l.topKCounts[f]!,
      topK: l.topK,
      accuracy: correct / n,
      prunedAccuracy: prunedCorrect / n,
    };
  }

  /** Scaled Delta over every neuron and input (Figure 1's quantity), for comparing models. */
  async distribution(id: string): Promise<Distribution> {
    const l = await this.#loaded(id);
    const n = l.count;
    const values: number[] = [];
    let infinite = 0;
    let constant = 0;
    let sampled = 0;
    // a strided sample keeps large folders (512 features x 10,000 inputs) to about 200,000 values
    const stride = Math.max(1, Math.floor((l.featureDim * n) / 200000));
    for (let k = 0; k < l.featureDim * n; k += stride) {
      const i = Math.floor(k / n);
      const d = l.deltas[k]!;
      sampled++;
      if (!Number.isFinite(d)) {
        infinite++;
        continue;
      }
      const v = (d - l.featureMean[i]!) / l.featureStd[i]!;
      if (Number.isFinite(v)) values.push(v);
      else constant++;
    }
    values.sort((a, b) => a - b);
    // the outer 0.5% on each side are left out, as in Figure 1, so a few huge values do not flatten it
    const q = (p: number) => values[Math.min(values.length - 1, Math.floor(p * values.length))] ?? 0;
    const [lo, hi] = [q(0.005), q(0.995)];
    const kept = Float32Array.from(values.filter((v) => v >= lo && v <= hi));
    return { histogram: histogram(kept, 40), sampled, infinite, constant, range: [lo, hi] };
  }

  async submitAttack(body: unknown): Promise<JobInfo> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body must be a JSON object');
    const b = body as Record<string, unknown>;
    if (typeof b.model !== 'string') throw badRequest('model must be a model id (a string)');
    const m = this.model(b.model);
    const l = await m.load();
    const attack = enumParam('attack', b.attack, ['kns', 'pgd'] as const);
    const norm = enumParam('norm', b.norm, NORMS);
    const request: AttackRequest = {
      model: m.id,
      input: intParam('input', b.input, 0, l.count - 1),
      attack,
      norm,
      eps: numberParam('eps', b.eps, 0, LIMITS.eps[norm], { exclusiveMin: true }),
      iterations: intParam('iterations', b.iterations, 1, LIMITS.iterations),
    };
    if (attack === 'kns') request.neuron = intParam('neuron', b.neuron, 0, l.featureDim - 1);
    else if (b.neuron !== undefined) throw badRequest('neuron applies to the neuron attack (attack: "kns") only');
    const spec = m.datasetSpec();
    return this.jobs.submit(request, {
      modelDir: m.source.dir,
      dataset: { name: spec.name, split: l.split, data: spec.data, imageSize: spec.imageSize },
      index: request.input,
      request,
      featureMean: l.featureMean,
      featureStd: l.featureStd,
    });
  }

  job(id: string): JobInfo {
    const j = this.jobs.info(id);
    if (!j) throw notFound(`no attack '${id}'`);
    return j;
  }

  cancel(id: string): JobInfo {
    this.job(id);
    this.jobs.cancel(id);
    return this.job(id);
  }

  async jobImage(id: string, which: string): Promise<Buffer> {
    const kind = enumParam('image', which, ['clean', 'adversarial', 'perturbation'] as const);
    this.job(id);
    const im = this.jobs.images(id);
    if (!im) throw notFound(`attack '${id}' has no images (it has not finished)`);
    if (kind === 'perturbation') return (await perturbationPng(im.clean, im.adversarial, im.shape)).png;
    return imagePng(kind === 'clean' ? im.clean : im.adversarial, im.shape);
  }

  async close(): Promise<void> {
    await this.jobs.close();
    for (const m of this.models.values()) m.dispose();
  }
}
