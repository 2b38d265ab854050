// Users' own models saved with torch.jit.save. The forward takes images in [0, 1] and returns
// either (logits, features) or logits only; in the latter case `featuresLayer` names the
// submodule whose output is the penultimate feature vector, and the model is run child by
// child (checked against its own forward). The classifier weight is found by name or as the
// last 2-D parameter shaped [classes, features].
import { existsSync, statSync } from 'node:fs';
import { loadScriptModule, type ScriptModule as NativeScriptModule, type ScriptValue as NativeValue } from '../tensor/script.js';
import * as F from '../nn/functional.js';
import { noGrad } from '../tensor/autograd.js';
import { rand, zeros } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { scope } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { state as deviceState, type Device } from '../tensor/deviceState.js';
import { ImageClassifier, type ClassifierLayer, type ForwardOptions, type ModelOutput } from './classifier.js';

export interface TorchScriptOptions {
  /** [C, H, W] of the images the model takes. */
  inputShape: [number, number, number];
  /** Submodule whose output is the penultimate features, when forward returns logits only. */
  featuresLayer?: string;
  /** Name of the classifier's weight parameter (default: the last 2-D [classes, features] one). */
  classifierParam?: string;
  /** Where the module's tensors are loaded (torch.jit.load's map_location); default the CPU. */
  device?: Device;
}

class ScriptLinear implements ClassifierLayer {
  constructor(readonly weight: Tensor, readonly bias: Tensor | null) {}
  get inFeatures(): number {
    return this.weight.shape[1]!;
  }
  get outFeatures(): number {
    return this.weight.shape[0]!;
  }
  forward(features: Tensor): Tensor {
    return F.linear(features, this.weight, this.bias);
  }
}

/** Frees every tensor inside a value the module returned (ids in arrays and objects). */
function disposeValue(v: unknown): void {
  if (typeof v === 'number') new Tensor(v).dispose();
  else if (Array.isArray(v)) v.forEach(disposeValue);
  else if (v && typeof v === 'object') Object.values(v).forEach(disposeValue);
}

function asTensor(v: unknown, what: string): Tensor {
  if (typeof v !== 'number') throw new Error(`${what} is not a tensor`);
  return new Tensor(v);
}

export class TorchScriptClassifier extends ImageClassifier {
  classifier!: ClassifierLayer;
  path!: string;
  #module!: NativeScriptModule;
  #params: Tensor[] = [];
  #children: { name: string; module: NativeScriptModule }[] = [];
  #featuresLayer: string | null = null;

  constructor(path: string, o: TorchScriptOptions) {
    super({ arch: 'torchscript', inputShape: o.inputShape, numClasses: 1 });
    const owned: Tensor[] = [];
    try {
      this.#init(path, o, owned);
    } catch (e) {
      // a model that fails to load frees what it had taken
      for (const t of owned) t.dispose();
      ImageClassifier.prototype.dispose.call(this);
      throw e;
    }
  }

  #init(path: string, o0: TorchScriptOptions, owned: Tensor[]): void {
    const o = { ...o0, device: o0.device ?? deviceState.defaultDevice };
    if (!existsSync(path) || !statSync(path).isFile()) throw new Error(`${path} does not exist`);
    try {
      this.#module = loadScriptModule(path, o.device);
    } catch (e) {
      throw new Error(`${path} is not a TorchScript model (torch.jit.save): ${(e as Error).message.split('\n')[0]}`);
    }
    this.path = path;
    // The normalisation constants (identity here) follow the module's device.
    super.to(o.device);
    this.#module.train(false);
    this.training = false;
    const named = this.#module.namedParameters().map(([n, id]) => [n, new Tensor(id).keep()] as [string, Tensor]);
    owned.push(...named.map(([, t]) => t));
    this.#params = named.map(([, t]) => t);
    const childNames = this.#module.childNames();
    this.#children = childNames.map((name) => ({ name, module: this.#module.child(name) }));
    this.#featuresLayer = o.featuresLayer ?? null;
    if (this.#featuresLayer !== null && !childNames.includes(this.#featuresLayer)) {
      throw new Error(`${path} has no submodule '${this.#featuresLayer}' (its submodules: ${childNames.join(', ') || 'none'})`);
    }
    // Probe once with a blank batch: output convention, class and feature counts.
    const probe = scope(() => noGrad(() => {
      const x = zeros([2, ...o.inputShape], { device: o.device });
      const { logits, features } = this.#run(x);
      return { classes: logits.shape[1]!, featureDim: features.shape[1]!, logits: logits.clone(), features: features.clone() };
    }));
    try {
      const names = named.map(([n, t]) => `${n} [${t.shape.join(', ')}]`);
      let weightName: string | undefined;
      if (o.classifierParam) {
        if (!named.some(([n]) => n === o.classifierParam)) throw new Error(`${path} has no parameter '${o.classifierParam}' (its parameters: ${names.join(', ')})`);
        weightName = o.classifierParam;
      } else {
        weightName = [...named].reverse().find(([, t]) => t.ndim === 2 && t.shape[0] === probe.classes && t.shape[1] === probe.featureDim)?.[0];
        if (!weightName) {
          throw new Error(`${path}: no classifier layer found: no 2-d parameter shaped [${probe.classes}, ${probe.featureDim}] ` +
            `(classes, features); name it with --classifier-param (parameters: ${names.join(', ')})`);
        }
      }
      const weight = named.find(([n]) => n === weightName)![1];
      const biasName = weightName.replace(/weight$/, 'bias');
      const bias = biasName !== weightName ? named.find(([n]) => n === biasName)?.[1] ?? null : null;
      this.classifier = new ScriptLinear(weight, bias);
      if (weight.ndim !== 2 || weight.shape[1] !== probe.featureDim || weight.shape[0] !== probe.classes) {
        throw new Error(`${path}: parameter ${weightName} is [${weight.shape.join(', ')}], the model has ${probe.classes} classes and ${probe.featureDim} features`);
      }
      const err = scope(() => noGrad(() => this.classifier.forward(probe.features).sub(probe.logits).abs().max().item()));
      const scale = scope(() => probe.logits.abs().max().item());
      if (!(err <= 1e-4 * Math.max(scale, 1))) {
        throw new Error(`${path}: its logits are not ${weightName} applied to the features (max difference ${err}); ` +
          'check --features-layer / --classifier-param');
      }
    } finally {
      probe.logits.dispose();
      probe.features.dispose();
    }
    if (this.#featuresLayer !== null) scope(() => this.verifyChildren(rand([2, ...o.inputShape], { generator: new Generator(0) }).to(o.device)));
    this.config.numClasses = probe.classes;
    this.config.arch = 'torchscript';
  }

  /** (logits, features) from the module's forward or, with featuresLayer, its children in order. */
  #run(x: Tensor): ModelOutput {
    if (this.#featuresLayer === null) {
      const out = this.#module.forward(x.native) as NativeValue;
      if (!Array.isArray(out) || out.length < 2) {
        if (typeof out === 'number') {
          new Tensor(out).dispose();
          throw new Error(`${this.path} returns logits only: name the submodule that outputs the features with --features-layer ` +
            `(its submodules: ${this.#children.map((c) => c.name).join(', ') || 'none'})`);
        }
        disposeValue(out);
        throw new Error(`${this.path}: forward must return a tensor or a tuple (logits, features)`);
      }
      const logits = asTensor(out[0], `${this.path}: the first output`);
      const features = asTensor(out[1], `${this.path}: the second output`);
      out.slice(2).forEach(disposeValue);
      return { logits, features: features.ndim > 2 ? features.flatten(1) : features };
    }
    let cur = x;
    let features: Tensor | null = null;
    for (const c of this.#children) {
      const out = c.module.forward(cur.native);
      cur = asTensor(out, `${this.path}: submodule ${c.name}'s output`);
      if (c.name === this.#featuresLayer) features = cur.ndim > 2 ? cur.flatten(1) : cur;
    }
    return { logits: cur, features: features! };
  }

  protected embed(): Tensor {
    throw new Error('TorchScriptClassifier computes features in forward');
  }

  override forward(x: Tensor, opts: ForwardOptions = {}): ModelOutput {
    this.checkInput(x);
    if (opts.fakeRelu) throw new Error('the fake ReLU is not available for TorchScript models (their graph is fixed)');
    return this.#run(x);
  }

  /** Checks that running the children in order reproduces the module's own forward. */
  verifyChildren(x: Tensor): void {
    if (this.#featuresLayer === null) return;
    scope(() => noGrad(() => {
      const direct = this.#module.forward(x.native);
      const ref = asTensor(Array.isArray(direct) ? direct[0] : direct, `${this.path}: forward`);
      const seq = this.#run(x).logits;
      const err = seq.sub(ref).abs().max().item();
      if (!(err <= 1e-4 * Math.max(ref.abs().max().item(), 1))) {
        throw new Error(`${this.path}: running its submodules in order does not give its forward's logits; ` +
          'save the model with a forward returning (logits, features) instead of using --features-layer');
      }
    }));
  }

  override train(on = true): this {
    super.train(on);
    this.#module?.train(on);
    return this;
  }

  override parameters(): Tensor[] {
    return this.#params;
  }

  override get device(): Device {
    return this.#params[0]?.device ?? super.device;
  }

  /** Moves the module in place (TorchScript's Module.to keeps parameter identity). */
  override to(device: Device): this {
    this.#module.to(device);
    return super.to(device);
  }

  save(path: string): void {
    this.#module.save(path);
  }

  override dispose(): void {
    super.dispose();
    for (const p of this.#params) p.dispose();
  }
}
