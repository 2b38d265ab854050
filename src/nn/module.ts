// Module: parameters, buffers and submodules with PyTorch's naming, so state dicts use
// PyTorch keys ("features.0.weight") and load into either framework.
import { noGrad } from '../tensor/autograd.js';
import type { Tensor, MemoryFormat } from '../tensor/tensor.js';
import type { Device } from '../tensor/deviceState.js';

/** Parameters and buffers by PyTorch's dotted key ("features.0.weight"), as `state_dict()` holds them. */
export type StateDict = Map<string, Tensor>;

/**
 * A neural-network module as torch.nn.Module: named parameters, buffers and submodules (state-dict
 * keys are PyTorch's), train/eval mode, in-place device moves. A module owns its tensors: they stay
 * out of scopes and are freed by `dispose()`. Subclasses register what they hold in the constructor
 * and implement `forward`.
 *
 * @example
 * ```ts
 * class TwoLayer extends Module {
 *   fc1 = this.registerModule('fc1', new Linear(784, 100));
 *   fc2 = this.registerModule('fc2', new Linear(100, 10));
 *   forward(x: Tensor): Tensor { return scope(() => this.fc2.forward(this.fc1.forward(x).relu())); }
 * }
 * ```
 */
export abstract class Module<I extends unknown[] = [Tensor], O = Tensor> {
  training = true;
  readonly #params = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #children = new Map<string, AnyModule>();

  /** The module's computation. Call it inside a scope: intermediate tensors are freed with it. */
  abstract forward(...inputs: I): O;

  /** Registers a trainable tensor; the module owns it (kept out of scopes, freed by dispose). */
  protected registerParameter(name: string, t: Tensor | null): Tensor | null {
    if (t) t.keep().requiresGrad_(true);
    this.#params.set(name, t);
    return t;
  }

  /** Registers a non-trainable tensor (running statistics): in the state dict, never optimized. */
  protected registerBuffer(name: string, t: Tensor | null): Tensor | null {
    if (t) t.keep();
    this.#buffers.set(name, t);
    return t;
  }

  /** Registers a submodule under `name`; its tensors' keys get the prefix `name.`. */
  protected registerModule<M extends AnyModule>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** The direct submodules with their names, in registration order. */
  namedChildren(): [string, AnyModule][] {
    return [...this.#children];
  }

  /** This module (named `prefix`) and every submodule below it, with dotted names. */
  namedModules(prefix = ''): [string, AnyModule][] {
    const out: [string, AnyModule][] = [[prefix, this]];
    for (const [name, m] of this.#children) out.push(...m.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** A submodule by dotted path ("features.3"). */
  getSubmodule(path: string): AnyModule {
    let m: AnyModule = this;
    if (path === '') return m;
    for (const part of path.split('.')) {
      const next = m.#children.get(part);
      if (!next) throw new Error(`no submodule '${path}' (missing '${part}')`);
      m = next;
    }
    return m;
  }

  /** Every parameter of this module and its submodules, with dotted names. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this.#params) if (p) out.push([prefix ? `${prefix}.${name}` : name, p]);
    for (const [name, m] of this.#children) out.push(...m.namedParameters(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Every parameter of this module and its submodules (what an optimizer takes). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every buffer of this module and its submodules, with dotted names. */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, b] of this.#buffers) if (b) out.push([prefix ? `${prefix}.${name}` : name, b]);
    for (const [name, m] of this.#children) out.push(...m.namedBuffers(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /**
   * Parameters and buffers by PyTorch key, in registration order (as PyTorch's state_dict).
   * The tensors are the module's own: do not dispose them.
   */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = new Map();
    for (const [name, p] of this.#params) if (p) out.set(prefix ? `${prefix}.${name}` : name, p);
    for (const [name, b] of this.#buffers) if (b) out.set(prefix ? `${prefix}.${name}` : name, b);
    for (const [name, m] of this.#children) {
      for (const [k, v] of m.stateDict(prefix ? `${prefix}.${name}` : name)) out.set(k, v);
    }
    return out;
  }

  /**
   * Copies values into this module's parameters and buffers. With strict (default), missing
   * and unexpected keys are an error that names them; shapes must always match.
   */
  loadStateDict(dict: StateDict | Record<string, Tensor>, { strict = true } = {}): { missing: string[]; unexpected: string[] } {
    const src = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      const parts = [];
      if (missing.length) parts.push(`missing keys: ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected keys: ${unexpected.join(', ')}`);
      throw new Error(`state dict does not match the model (${parts.join('; ')})`);
    }
    const mismatched: string[] = [];
    for (const [k, dst] of own) {
      const v = src.get(k);
      if (v && v.shape.join(',') !== dst.shape.join(',')) {
        mismatched.push(`${k}: model [${dst.shape.join(', ')}], given [${v.shape.join(', ')}]`);
      }
    }
    if (mismatched.length) throw new Error(`state dict shapes do not match the model: ${mismatched.join('; ')}`);
    noGrad(() => {
      for (const [k, dst] of own) {
        const v = src.get(k);
        if (!v) continue;
        if (v.dtype === dst.dtype) dst.copy_(v);
        else {
          const c = v.to(dst.dtype);
          dst.copy_(c);
          c.dispose();
        }
      }
    });
    return { missing, unexpected };
  }

  /** The device of the first parameter or buffer ('cpu' for a module with neither). */
  get device(): Device {
    const first = this.namedParameters()[0]?.[1] ?? this.namedBuffers()[0]?.[1];
    return first ? first.device : 'cpu';
  }

  /**
   * Moves every parameter and buffer to `device` in place, as PyTorch's Module.to: the
   * tensors keep their identity, so optimizers and references stay valid. Gradients are
   * dropped.
   */
  to(device: Device): this {
    noGrad(() => {
      for (const [, p] of this.namedParameters()) {
        p.grad = null;
        p.moveTo_(device);
      }
      for (const [, b] of this.namedBuffers()) b.moveTo_(device);
    });
    return this;
  }

  /**
   * Lays every 4-D parameter and buffer out in `format` in place, as PyTorch's
   * Module.to(memory_format=...); convolutions then run in that layout when their input does.
   */
  toMemoryFormat(format: MemoryFormat): this {
    noGrad(() => {
      for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) if (t.ndim === 4) t.toMemoryFormat_(format);
    });
    return this;
  }

  /** Sets training mode (batch norm uses batch statistics, dropout drops) on this module and below. */
  train(on = true): this {
    this.training = on;
    for (const m of this.#children.values()) m.train(on);
    return this;
  }

  /** Sets evaluation mode on this module and below: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Clears parameter gradients (sets them to none). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.numel(), 0);
  }

  /** Frees every parameter and buffer. The module is unusable afterwards. */
  dispose(): void {
    for (const [, t] of this.namedParameters()) t.dispose();
    for (const [, t] of this.namedBuffers()) t.dispose();
  }

  /** Frees every parameter and buffer, for `using m = ...`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A module whatever its forward's signature: what containers and walkers over a model take.
 * `unknown` will not do, since a forward taking a Tensor does not accept unknown arguments.
 */
// biome-ignore lint/suspicious/noExplicitAny: the one place modules of any signature are named; see above
export type AnyModule = Module<any, any>;

/**
 * Runs fn with the module in eval mode and puts the module back in the mode it was in, also
 * when fn throws or its promise rejects.
 */
export function withEval<T>(m: AnyModule, fn: () => T): T {
  const was = m.training;
  m.eval();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    m.train(was);
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => m.train(was)) as T;
  m.train(was);
  return result;
}
