// Users' own models saved with torch.jit.save (scripted or traced). The forward takes images
// in [0, 1], or normalised with `normalization` first, and returns either (logits, features)
// or logits only; in the latter case `featuresLayer` names the submodule, at any depth
// (`net.avgpool`), whose output is the penultimate feature vector, captured inside the
// model's own forward (its logits checked against the plain forward's). The classifier
// weight is found by name or as the last 2-D parameter shaped [classes, features].
import { existsSync, statSync } from 'node:fs';
import {
  loadScriptModule,
  UnsafeScriptFileError,
  type ScriptModule as NativeScriptModule,
  type ScriptValue as NativeValue,
} from '../tensor/script.js';
import * as F from '../nn/functional.js';
import { noGrad } from '../tensor/autograd.js';
import { rand, zeros } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { scope } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { state as deviceState, type Device } from '../tensor/deviceState.js';
import { ImageClassifier, type ClassifierLayer, type ForwardOptions, type ModelOutput, type Normalization } from './classifier.js';

/**
 * How to wrap a TorchScript module as an {@link ImageClassifier}: its input shape, normalisation, and where its features and classifier are.
 */
export interface TorchScriptOptions {
  /** [C, H, W] of the images the model takes. */
  inputShape: [number, number, number];
  /** Per-channel mean/std applied to the [0, 1] images before the module (none by default). */
  normalization?: Normalization;
  /** Dotted path of the submodule whose output is the penultimate features, when forward returns logits only. */
  featuresLayer?: string;
  /** Name of the classifier's weight parameter (default: the last 2-D [classes, features] one). */
  classifierParam?: string;
  /** Where the module's tensors are loaded (torch.jit.load's map_location); default the CPU. */
  device?: Device;
}

class ScriptLinear implements ClassifierLayer {
  constructor(
    readonly weight: Tensor,
    readonly bias: Tensor | null,
  ) {}
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

/** What a TorchScript model was opened with, for the records of the commands that use it. */
export interface TorchScriptSettings {
  file: string;
  inputShape: [number, number, number];
  /** null: forward returns (logits, features). */
  featuresLayer: string | null;
  /** The classifier weight used, given or found. */
  classifierParam: string;
  /** null: the images go to the module as they are, in [0, 1]. */
  normalization: Normalization | null;
}

/**
 * A user's TorchScript model (torch.jit.save) as an {@link ImageClassifier}: its forward returns
 * (logits, features), or logits alone with the features read from `featuresLayer`, and its
 * classifier weight is found or named. Analyses and attacks then run on it as on a zoo model.
 *
 * @example
 * ```ts
 * const model = new TorchScriptClassifier('model.pt', { inputShape: [3, 32, 32], featuresLayer: 'avgpool' });
 * ```
 */
export class TorchScriptClassifier extends ImageClassifier {
  classifier!: ClassifierLayer;
  path!: string;
  settings!: TorchScriptSettings;
  #module!: NativeScriptModule;
  #params: Tensor[] = [];
  #featuresLayer: string | null = null;
  #normalize = false;

  constructor(path: string, o: TorchScriptOptions) {
    super({ arch: 'torchscript', inputShape: o.inputShape, numClasses: 1, normalization: o.normalization });
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
      if (e instanceof UnsafeScriptFileError) throw e;
      throw new Error(`${path} is not a TorchScript model (torch.jit.save): ${(e as Error).message.split('\n')[0]}`);
    }
    this.path = path;
    this.#normalize = !!o.normalization;
    // The normalisation constants follow the module's device.
    super.to(o.device);
    this.#module.train(false);
    this.training = false;
    const named = this.#module.namedParameters().map(([n, id]) => [n, new Tensor(id).keep()] as [string, Tensor]);
    owned.push(...named.map(([, t]) => t));
    this.#params = named.map(([, t]) => t);
    this.#featuresLayer = o.featuresLayer ?? null;
    if (this.#featuresLayer !== null) {
      try {
        this.#module.capture(this.#featuresLayer);
      } catch (e) {
        throw new Error(`${path}: --features-layer ${this.#featuresLayer}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    // Probe once with a blank batch: output convention, class and feature counts.
    const probe = scope(() =>
      noGrad(() => {
        const x = zeros([2, ...o.inputShape], { device: o.device });
        const { logits, features } = this.#run(this.#input(x));
        return { classes: logits.shape[1]!, featureDim: features.shape[1]!, logits: logits.clone(), features: features.clone() };
      }),
    );
    let weightName: string | undefined;
    try {
      const names = named.map(([n, t]) => `${n} [${t.shape.join(', ')}]`);
      if (o.classifierParam) {
        if (!named.some(([n]) => n === o.classifierParam))
          throw new Error(`${path} has no parameter '${o.classifierParam}' (its parameters: ${names.join(', ')})`);
        weightName = o.classifierParam;
      } else {
        weightName = [...named]
          .reverse()
          .find(([, t]) => t.ndim === 2 && t.shape[0] === probe.classes && t.shape[1] === probe.featureDim)?.[0];
        if (!weightName) {
          throw new Error(
            `${path}: no classifier layer found: no 2-d parameter shaped [${probe.classes}, ${probe.featureDim}] ` +
              `(classes, features); name it with --classifier-param (parameters: ${names.join(', ')})`,
          );
        }
      }
      const weight = named.find(([n]) => n === weightName)![1];
      const biasName = weightName!.replace(/weight$/, 'bias');
      const bias = biasName !== weightName ? (named.find(([n]) => n === biasName)?.[1] ?? null) : null;
      this.classifier = new ScriptLinear(weight, bias);
      if (weight.ndim !== 2 || weight.shape[1] !== probe.featureDim || weight.shape[0] !== probe.classes) {
        throw new Error(
          `${path}: parameter ${weightName} is [${weight.shape.join(', ')}], the model has ${probe.classes} classes and ${probe.featureDim} features`,
        );
      }
      const err = scope(() => noGrad(() => this.classifier.forward(probe.features).sub(probe.logits).abs().max().item()));
      const scale = scope(() => probe.logits.abs().max().item());
      if (!(err <= 1e-4 * Math.max(scale, 1))) {
        throw new Error(
          `${path}: its logits are not ${weightName} applied to the features (max difference ${err}); ` +
            'check --features-layer / --classifier-param',
        );
      }
    } finally {
      probe.logits.dispose();
      probe.features.dispose();
    }
    if (this.#featuresLayer !== null)
      scope(() => this.#checkCapture(rand([2, ...o.inputShape], { generator: new Generator(0) }).to(o.device)));
    this.config.numClasses = probe.classes;
    this.config.arch = 'torchscript';
    this.settings = {
      file: path,
      inputShape: o.inputShape,
      featuresLayer: this.#featuresLayer,
      classifierParam: weightName,
      normalization: o.normalization ?? null,
    };
  }

  /** The images as the module takes them. */
  #input(x: Tensor): Tensor {
    return this.#normalize ? this.normalize(x) : x;
  }

  /** (logits, features) from the module's forward, with featuresLayer the one that also returns that submodule's output. */
  #run(x: Tensor): ModelOutput {
    if (this.#featuresLayer === null) {
      const out = this.#module.forward(x.native) as NativeValue;
      if (!Array.isArray(out) || out.length < 2) {
        if (typeof out === 'number') {
          new Tensor(out).dispose();
          throw new Error(
            `${this.path} returns logits only: name the submodule that outputs the features with --features-layer ` +
              `(a dotted path such as net.avgpool; its submodules: ${this.#module.childNames().join(', ') || 'none'})`,
          );
        }
        disposeValue(out);
        throw new Error(`${this.path}: forward must return a tensor or a tuple (logits, features)`);
      }
      const logits = asTensor(out[0], `${this.path}: the first output`);
      const features = asTensor(out[1], `${this.path}: the second output`);
      out.slice(2).forEach(disposeValue);
      return { logits, features: features.ndim > 2 ? features.flatten(1) : features };
    }
    const [out, captured] = this.#module.forwardCaptured(x.native) as [NativeValue, NativeValue];
    const features = asTensor(captured, `${this.path}: ${this.#featuresLayer}'s output`);
    // a forward returning a tuple: its first entry is the logits
    const first = Array.isArray(out) ? out[0] : out;
    if (Array.isArray(out)) out.slice(1).forEach(disposeValue);
    if (typeof first !== 'number') {
      disposeValue(first);
      features.dispose();
      throw new Error(`${this.path}: forward must return logits (a tensor) or a tuple starting with them`);
    }
    return { logits: new Tensor(first), features: features.ndim > 2 ? features.flatten(1) : features };
  }

  protected embed(): Tensor {
    throw new Error('TorchScriptClassifier computes features in forward');
  }

  override forward(x: Tensor, opts: ForwardOptions = {}): ModelOutput {
    this.checkInput(x);
    if (opts.fakeRelu) throw new Error('the fake ReLU is not available for TorchScript models (their graph is fixed)');
    return this.#run(this.#input(x));
  }

  /** The forward that also returns the features must give the plain forward's logits. */
  #checkCapture(x: Tensor): void {
    scope(() =>
      noGrad(() => {
        const xin = this.#input(x);
        const direct = this.#module.forward(xin.native) as NativeValue;
        const first = Array.isArray(direct) ? direct[0] : direct;
        if (Array.isArray(direct)) direct.slice(1).forEach(disposeValue);
        const ref = asTensor(first, `${this.path}: forward`);
        const err = this.#run(xin).logits.sub(ref).abs().max().item();
        if (!(err <= 1e-4 * Math.max(ref.abs().max().item(), 1))) {
          throw new Error(
            `${this.path}: its forward gives other logits when ${this.#featuresLayer}'s output is also returned ` +
              `(max difference ${err}); save the model with a forward returning (logits, features) instead of using --features-layer`,
          );
        }
      }),
    );
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

  /** Writes the module back as a TorchScript file (torch.jit.save). */
  save(path: string): void {
    this.#module.save(path);
  }

  override dispose(): void {
    super.dispose();
    for (const p of this.#params) p.dispose();
  }
}
