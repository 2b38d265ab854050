// A small, safe reader for the Python pickles data sets ship in (CIFAR-10's python version):
// protocol 2 to 4, the opcodes cPickle and numpy emit, and only the globals needed to rebuild
// a numpy array. Nothing is ever executed: every other global is refused.

/** A numpy array rebuilt from its pickled state; `data` holds the raw C-order bytes. */
export class NdArray {
  dtype = '';
  shape: number[] = [];
  data: Uint8Array = new Uint8Array(0);
}

/** numpy.dtype('u1') and friends; only the descriptor and byte order are kept. */
export class PyDtype {
  byteorder = '|';
  constructor(readonly descr: string) {}
}

class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Python values map to: null, boolean, number (bigint when too large), string, Uint8Array
 * (bytes), arrays (lists and tuples), Map (dicts; bytes keys become latin1 strings), NdArray. */
export type PyValue = unknown;

const ALLOWED = new Set([
  'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct',
  'numpy.ndarray', 'numpy.dtype', '_codecs.encode',
]);

function latin1Bytes(s: string): Uint8Array {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 255) throw new Error('pickle: bytes payload has a character above U+00FF');
  }
  return Buffer.from(s, 'latin1');
}

function dictKey(k: unknown): unknown {
  return k instanceof Uint8Array ? Buffer.from(k).toString('latin1') : k;
}

function reduce(fn: unknown, args: unknown): unknown {
  if (!(fn instanceof PyGlobal) || !Array.isArray(args)) throw new Error('pickle: REDUCE needs a global and an argument tuple');
  switch (fn.qualified) {
    case 'numpy.core.multiarray._reconstruct':
    case 'numpy._core.multiarray._reconstruct': {
      const cls = args[0];
      if (!(cls instanceof PyGlobal) || cls.qualified !== 'numpy.ndarray') throw new Error('pickle: _reconstruct only rebuilds numpy.ndarray');
      return new NdArray();
    }
    case 'numpy.dtype':
      if (typeof args[0] !== 'string') throw new Error('pickle: numpy.dtype needs a descriptor string');
      return new PyDtype(args[0]);
    case '_codecs.encode': {
      const [s, enc] = args;
      if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw new Error("pickle: _codecs.encode is only supported as encode(str, 'latin1')");
      return latin1Bytes(s);
    }
    default:
      throw new Error(`pickle: cannot call ${fn.qualified}`);
  }
}

function build(obj: unknown, state: unknown): void {
  if (obj instanceof PyDtype) {
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    if (Array.isArray(state) && typeof state[1] === 'string') obj.byteorder = state[1];
    return;
  }
  if (!(obj instanceof NdArray) || !Array.isArray(state)) throw new Error('pickle: BUILD is only supported on numpy arrays and dtypes');
  // numpy's __setstate__: (version, shape, dtype, is_fortran, rawdata), or the 4-tuple without version.
  const [shape, dtype, fortran, raw] = state.length === 5 ? state.slice(1) : state;
  if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) throw new Error('pickle: numpy array has an invalid shape');
  if (!(dtype instanceof PyDtype)) throw new Error('pickle: numpy array has no dtype');
  if (fortran) throw new Error('pickle: Fortran-ordered numpy arrays are not supported');
  // Python 2 pickles the buffer as a str (decoded here as latin1), Python 3 as bytes.
  const data = typeof raw === 'string' ? latin1Bytes(raw) : raw;
  if (!(data instanceof Uint8Array)) throw new Error(`pickle: numpy array of dtype ${dtype.descr} has no raw buffer (object arrays are not supported)`);
  const m = /^[<>=|]?[iufb](\d+)$/.exec(dtype.descr);
  const itemsize = m ? Number(m[1]) : NaN;
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (data.length !== count * itemsize) {
    throw new Error(`pickle: numpy array [${shape.join(', ')}] of ${dtype.descr} needs ${count * itemsize} bytes but has ${data.length}`);
  }
  obj.dtype = dtype.descr;
  obj.shape = shape as number[];
  obj.data = data;
}

/** Parses one pickle. Throws on unknown opcodes, malformed input and any global not allow-listed. */
export function parsePickle(buf: Uint8Array): PyValue {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number): number => {
    if (n < 0 || pos + n > b.length) throw new Error(`pickle: truncated at byte ${pos} (needs ${n} more bytes, file has ${b.length})`);
    const p = pos;
    pos += n;
    return p;
  };
  const bytes = (n: number): Buffer => {
    const p = need(n);
    return b.subarray(p, p + n);
  };
  const line = (): string => {
    const end = b.indexOf(0x0a, pos);
    if (end < 0) throw new Error('pickle: truncated GLOBAL');
    const s = b.toString('latin1', pos, end);
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) throw new Error(`pickle: stack underflow at byte ${pos}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw new Error(`pickle: empty stack at byte ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw new Error(`pickle: no MARK at byte ${pos}`);
    return stack.splice(m);
  };
  const resolve = (module: string, name: string): PyGlobal => {
    const g = new PyGlobal(module, name);
    if (!ALLOWED.has(g.qualified)) throw new Error(`refusing to load pickle global ${g.qualified}`);
    return g;
  };
  const setItems = (d: unknown, kv: unknown[]): void => {
    if (!(d instanceof Map)) throw new Error('pickle: SETITEM on something that is not a dict');
    if (kv.length % 2) throw new Error('pickle: SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) d.set(dictKey(kv[i]), kv[i + 1]);
  };
  const append = (l: unknown, items: unknown[]): void => {
    if (!Array.isArray(l)) throw new Error('pickle: APPEND on something that is not a list');
    for (const x of items) l.push(x);
  };
  const getMemo = (k: number): void => {
    if (!memo.has(k)) throw new Error(`pickle: memo key ${k} is not defined`);
    stack.push(memo.get(k));
  };

  for (;;) {
    const opPos = need(1);
    const op = b[opPos]!;
    switch (op) {
      case 0x80: need(1); break; // PROTO
      case 0x95: need(8); break; // FRAME: frames are just a read-ahead hint
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT }
      case 0x5d: stack.push([]); break; // EMPTY_LIST ]
      case 0x29: stack.push([]); break; // EMPTY_TUPLE )
      case 0x28: marks.push(stack.length); break; // MARK (
      case 0x58: { const n = b.readUInt32LE(need(4)); stack.push(bytes(n).toString('utf8')); break; } // BINUNICODE X
      case 0x8c: { const n = b[need(1)]!; stack.push(bytes(n).toString('utf8')); break; } // SHORT_BINUNICODE
      case 0x54: { const n = b.readInt32LE(need(4)); stack.push(bytes(n).toString('latin1')); break; } // BINSTRING T
      case 0x55: { const n = b[need(1)]!; stack.push(bytes(n).toString('latin1')); break; } // SHORT_BINSTRING U
      case 0x42: { const n = b.readUInt32LE(need(4)); stack.push(bytes(n)); break; } // BINBYTES B
      case 0x43: { const n = b[need(1)]!; stack.push(bytes(n)); break; } // SHORT_BINBYTES C
      case 0x4a: stack.push(b.readInt32LE(need(4))); break; // BININT J
      case 0x4b: stack.push(b[need(1)]!); break; // BININT1 K
      case 0x4d: stack.push(b.readUInt16LE(need(2))); break; // BININT2 M
      case 0x8a: { // LONG1: little-endian two's complement
        const n = b[need(1)]!;
        const d = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(d[i]!);
        if (n > 0 && d[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: stack.push(b.readDoubleBE(need(8))); break; // BINFLOAT G
      case 0x4e: stack.push(null); break; // NONE N
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x74: stack.push(popMark()); break; // TUPLE t
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const y = pop(); const x = pop(); stack.push([x, y]); break; } // TUPLE2
      case 0x87: { const z = pop(); const y = pop(); const x = pop(); stack.push([x, y, z]); break; } // TUPLE3
      case 0x63: { const module = line(); const name = line(); stack.push(resolve(module, name)); break; } // GLOBAL c
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new Error('pickle: STACK_GLOBAL needs two strings');
        stack.push(resolve(module, name));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(reduce(fn, args)); break; } // REDUCE R
      case 0x62: { const state = pop(); build(top(), state); break; } // BUILD b
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM s
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS u
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND a
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS e
      case 0x71: memo.set(b[need(1)]!, top()); break; // BINPUT q
      case 0x72: memo.set(b.readUInt32LE(need(4)), top()); break; // LONG_BINPUT r
      case 0x68: getMemo(b[need(1)]!); break; // BINGET h
      case 0x6a: getMemo(b.readUInt32LE(need(4))); break; // LONG_BINGET j
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x2e: { // STOP .
        if (stack.length !== 1 || marks.length) throw new Error('pickle: malformed (stack not empty at STOP)');
        return stack[0];
      }
      default:
        throw new Error(`pickle: unsupported opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opPos}`);
    }
  }
}
