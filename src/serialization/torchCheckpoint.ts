// torch.save files read as data: the zip archive (PyTorch >= 1.6: <name>/data.pkl, the pickle,
// and <name>/data/<key>, one record per storage) and the legacy format before it (pickles one
// after another, then the storages' bytes). The pickle goes through the allowlist of
// torchPickle.ts; every tensor is checked against its storage record before anything is read.
import { PyGlobal, unpickle, type PickleResolver, type PyValue } from './pickle.js';
import { TorchResolver } from './torchPickle.js';
import { TorchTensor } from './torchTensor.js';
import { ZipArchive, looksLikeZip } from './zip.js';

export { TorchTensor };

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const RESAVE = 'load it with PyTorch and save it again (torch.save(torch.load(path), path), PyTorch >= 1.6)';

function readZip(data: Uint8Array): PyValue {
  const zip = new ZipArchive(data);
  const names = [...zip.entries.keys()];
  const pkl = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (names.some((n) => /^[^/]+\/(code\/|constants\.pkl$)/.test(n))) {
    throw new Error('not a PyTorch checkpoint (torch.save file) but a TorchScript model (torch.jit.save): pass it to --model as it is');
  }
  if (pkl.length !== 1)
    throw new Error(
      pkl.length
        ? `a zip archive with ${pkl.length} data.pkl entries (${pkl.join(', ')})`
        : 'a zip archive without a data.pkl: not a torch.save checkpoint',
    );
  const prefix = pkl[0]!.slice(0, -'data.pkl'.length);
  const order = zip.entries.has(`${prefix}byteorder`)
    ? Buffer.from(zip.read(`${prefix}byteorder`))
        .toString('latin1')
        .trim()
    : 'little';
  if (order !== 'little') throw new Error(`tensors stored ${order}-endian; ${RESAVE} on a little-endian machine`);
  const resolver = new TorchResolver((key) => `${prefix}data/${key}`);
  const root = unpickle(zip.read(pkl[0]!), resolver).value;
  for (const s of resolver.storages.values()) {
    if (!zip.entries.has(s.record)) throw new Error(`storage '${s.key}' has no record ${s.record} in the archive`);
    s.attach(zip.read(s.record));
  }
  return root;
}

// Plain values only: the header pickles of the legacy format hold no globals.
const PLAIN: PickleResolver = {
  global(module, name) {
    throw new Error(`pickle: unexpected global ${module}.${name} in the legacy header`);
  },
};

function readLegacy(data: Uint8Array): PyValue {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let magic: { value: PyValue; end: number } | null = null;
  try {
    magic = unpickle(b, PLAIN);
  } catch {
    // not even the header: some other pickle
  }
  if (!magic || magic.value !== LEGACY_MAGIC) throw new Error('a pickle but not a torch.save file (no PyTorch magic number)');
  const version = unpickle(b, PLAIN, magic.end);
  if (version.value !== 1001) throw new Error(`a legacy torch.save file of protocol ${String(version.value)} (1001 is read); ${RESAVE}`);
  const info = unpickle(b, PLAIN, version.end);
  if (!(info.value instanceof Map) || info.value.get('little_endian') !== true)
    throw new Error(`saved on a big-endian machine; ${RESAVE} on a little-endian one`);
  const resolver = new TorchResolver((key) => `storage ${key}`, true);
  const main = unpickle(b, resolver, info.end);
  const keys = unpickle(b, PLAIN, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string'))
    throw new Error('legacy format: the storage key list is not a list of strings');
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const s = resolver.storages.get(key);
    if (!s) throw new Error(`legacy format: the key list names storage '${key}', which no tensor uses`);
    if (s.bytes) throw new Error(`legacy format: storage '${key}' is listed twice`);
    if (pos + 8 > b.length) throw new Error(`legacy format: truncated at storage '${key}' (byte ${pos} of ${b.length})`);
    const numel = b.readBigInt64LE(pos);
    if (numel !== BigInt(s.numel)) throw new Error(`legacy format: storage '${key}' holds ${numel} values, its pickle declares ${s.numel}`);
    const end = pos + 8 + s.numel * s.type.itemsize;
    if (end > b.length)
      throw new Error(
        `legacy format: storage '${key}' needs ${s.numel * s.type.itemsize} bytes at byte ${pos + 8}, the file has ${b.length}`,
      );
    s.attach(b.subarray(pos + 8, end));
    pos = end;
  }
  for (const s of resolver.storages.values()) if (!s.bytes) throw new Error(`legacy format: storage '${s.key}' has no data in the file`);
  return main.value;
}

/** The name of a dict key in a tensor's path. */
function keyName(k: unknown): string {
  return typeof k === 'string' ? k : typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean' ? String(k) : `<${typeof k}>`;
}

// a few bytes of pickle nest lists a million deep; no checkpoint comes near this
const MAX_DEPTH = 1000;

/**
 * Calls visit(path, tensor) for every tensor under `value` (dict keys and list indices joined
 * by '.'), each container once: shared and self-containing structures end.
 */
export function forEachTensor(value: PyValue, visit: (path: string, t: TorchTensor) => void): void {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string, depth: number): void => {
    if (v instanceof TorchTensor) {
      visit(path, v);
      return;
    }
    if (!(v instanceof Map) && !Array.isArray(v)) return;
    if (seen.has(v)) return;
    if (depth > MAX_DEPTH) throw new Error(`containers nested more than ${MAX_DEPTH} deep (at '${path.slice(0, 60)}...')`);
    seen.add(v);
    const join = (k: string): string => (path ? `${path}.${k}` : k);
    if (v instanceof Map) for (const [k, x] of v) walk(x, join(keyName(k)), depth + 1);
    else for (const [i, x] of v.entries()) walk(x, join(String(i)), depth + 1);
  };
  walk(value, '', 0);
}

/**
 * Reads a torch.save file's bytes: the saved object, with dicts (and OrderedDicts) as Maps,
 * lists and tuples as arrays, and TorchTensor leaves whose values are read on demand
 * (`load()`). Every tensor has been checked against its storage record. Errors are one
 * sentence about the file, to follow '<file>: '.
 */
export function readTorchCheckpoint(data: Uint8Array): PyValue {
  let root: PyValue;
  if (looksLikeZip(data)) root = readZip(data);
  else if (data[0] === 0x80) root = readLegacy(data);
  else if (data.length > 262 && Buffer.from(data.subarray(257, 262)).toString('latin1') === 'ustar') {
    throw new Error(`the tar format of PyTorch before 0.4; ${RESAVE}`);
  } else {
    throw new Error('not a PyTorch checkpoint (neither a torch.save zip archive nor the legacy pickle format)');
  }
  forEachTensor(root, (path, t) => {
    const p = t.problem();
    if (p) throw new Error(`tensor '${path}': ${p}`);
  });
  return root;
}

/** A short name for a value in messages: 'a dict of 3 entries', 'a tensor', 'an int'. */
export function describePy(v: PyValue): string {
  if (v instanceof TorchTensor) return `a ${v.dtype} tensor`;
  if (v instanceof Map) return `a dict of ${v.size} entries`;
  if (Array.isArray(v)) return `a list of ${v.length} items`;
  if (v instanceof PyGlobal) return v.qualified;
  if (v === null) return 'None';
  return typeof v === 'string' ? 'a string' : typeof v === 'number' || typeof v === 'bigint' ? 'a number' : typeof v;
}
