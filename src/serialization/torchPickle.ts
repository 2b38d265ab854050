// What a torch.save pickle may contain, after PyTorch's own weights_only unpickler
// (torch/_weights_only_unpickler.py): tensors rebuilt from storages, Parameters, OrderedDicts,
// torch.Size, torch.device, dtypes, sets and bytes, besides the plain values the pickle
// machine builds itself. Every other global is refused by name.
import { PyGlobal, isTuple, latin1Bytes, type PickleResolver } from './pickle.js';
import { STORAGE_TYPES, StorageType, TorchStorage, TorchTensor } from './torchTensor.js';

const CALLABLE = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch.nn.parameter.Parameter',
  'torch.Size',
  'torch.device',
  'builtins.set',
  '_codecs.encode',
]);

const DTYPES = new Set([
  'float16',
  'bfloat16',
  'float32',
  'float64',
  'complex32',
  'complex64',
  'complex128',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'bool',
  'half',
  'float',
  'double',
  'long',
  'int',
  'short',
]);

// torch.save(model) pickles the module's class: a hint beats a bare refusal
const CODE_HINT = /^(__main__|torch\.nn\.modules|torchvision|timm)\./;

function refuse(qualified: string): never {
  const hint = CODE_HINT.test(qualified)
    ? '; the file holds a pickled model object (torch.save(model)): save model.state_dict() instead'
    : '';
  throw new Error(
    `refusing to load pickle global ${qualified}: Sauron reads checkpoints as data (only tensors, dicts, lists, tuples and numbers)${hint}`,
  );
}

function ascii(v: unknown): unknown {
  return v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v;
}

function tensorArg(v: unknown, what: string): TorchTensor {
  if (!(v instanceof TorchTensor)) throw new Error(`pickle: ${what} needs a tensor`);
  return v;
}

/** The resolver for one checkpoint: collects the storages its persistent ids name. */
export class TorchResolver implements PickleResolver {
  readonly storages = new Map<string, TorchStorage>();
  readonly #ordered = new WeakSet<object>();

  /** `record(key)` names the archive record a storage key refers to; legacy files have 6-tuples. */
  constructor(
    readonly record: (key: string) => string,
    readonly legacy = false,
  ) {}

  global(module: string, name: string): unknown {
    const q = `${module}.${name}`;
    if (CALLABLE.has(q)) return new PyGlobal(module, name);
    if ((module === 'torch' || module === 'torch.cuda') && STORAGE_TYPES.has(name)) return STORAGE_TYPES.get(name);
    if (module === 'torch' && DTYPES.has(name)) return new PyGlobal(module, name);
    return refuse(q);
  }

  reduce(fn: unknown, args: readonly unknown[]): unknown {
    if (!(fn instanceof PyGlobal) || !CALLABLE.has(fn.qualified))
      throw new Error(`pickle: cannot call ${fn instanceof PyGlobal ? fn.qualified : 'a value that is not a function'}`);
    switch (fn.qualified) {
      case 'collections.OrderedDict': {
        const d = new Map<unknown, unknown>();
        this.#ordered.add(d);
        const items = args[0];
        if (args.length > 1 || (items !== undefined && !Array.isArray(items)))
          throw new Error('pickle: OrderedDict takes at most a list of pairs');
        for (const kv of (items ?? []) as unknown[]) {
          if (!Array.isArray(kv) || kv.length !== 2) throw new Error('pickle: OrderedDict takes a list of (key, value) pairs');
          d.set(kv[0], kv[1]);
        }
        return d;
      }
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (!(storage instanceof TorchStorage)) throw new Error(`pickle: ${fn.name} needs a storage`);
        return new TorchTensor(storage, offset, size, stride);
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
      case 'torch.nn.parameter.Parameter':
        return tensorArg(args[0], fn.name);
      case 'torch.Size':
        if (!isTuple(args[0]) || !args[0].every((s) => Number.isSafeInteger(s)))
          throw new Error('pickle: torch.Size needs a tuple of integers');
        return args[0];
      case 'torch.device':
        if (typeof args[0] !== 'string') throw new Error('pickle: torch.device needs a string');
        return args.length > 1 ? `${args[0]}:${String(args[1])}` : args[0];
      case 'builtins.set':
        if (args.length > 1 || (args.length === 1 && !Array.isArray(args[0]))) throw new Error('pickle: set takes a list');
        return [...((args[0] ?? []) as unknown[])];
      default: {
        // _codecs.encode: how protocol 2 writes bytes
        const [s, enc] = args;
        if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1'))
          throw new Error("pickle: _codecs.encode is only supported as encode(str, 'latin1')");
        return latin1Bytes(s);
      }
    }
  }

  newobj(cls: unknown, args: readonly unknown[]): unknown {
    if (cls instanceof PyGlobal && cls.qualified === 'torch.nn.parameter.Parameter') return tensorArg(args[0], 'Parameter');
    throw new Error('pickle: NEWOBJ is only allowed for torch.nn.Parameter');
  }

  build(obj: unknown, state: unknown): void {
    // an OrderedDict's attributes (a state dict's _metadata: module versions) are dropped
    if (obj instanceof Map && this.#ordered.has(obj)) {
      if (!(state instanceof Map) && state !== null) throw new Error("pickle: an OrderedDict's state must be a dict");
      return;
    }
    throw new Error('pickle: BUILD is only allowed on an OrderedDict');
  }

  persistentLoad(pid: unknown): unknown {
    const n = this.legacy ? 6 : 5;
    if (!isTuple(pid) || ascii(pid[0]) !== 'storage') throw new Error('pickle: a persistent id other than a storage');
    if (pid.length !== n) throw new Error(`pickle: a storage persistent id has ${pid.length} fields, not ${n}`);
    const [, type, key0, , numel, view] = pid;
    const key = ascii(key0);
    if (!(type instanceof StorageType))
      throw new Error('pickle: a storage of an unsupported element type (complex and quantized tensors are not read)');
    if (typeof key !== 'string') throw new Error('pickle: a storage key is not a string');
    if (!Number.isSafeInteger(numel) || (numel as number) < 0) throw new Error(`pickle: storage '${key}' declares ${String(numel)} values`);
    if (this.legacy && view !== null)
      throw new Error(`pickle: storage '${key}' is a view of another storage (the pre-1.0 format): re-save the file with PyTorch >= 1.6`);
    const seen = this.storages.get(key);
    if (seen) {
      if (seen.type !== type || seen.numel !== numel)
        throw new Error(
          `pickle: storage '${key}' is declared twice, as ${seen.numel} ${seen.type.dtype} and as ${String(numel)} ${type.dtype} values`,
        );
      return seen;
    }
    const s = new TorchStorage(key, type, numel as number, this.record(key));
    this.storages.set(key, s);
    return s;
  }
}
