// A pickle machine that never runs code: it builds Python's plain values itself and hands
// every global, call (REDUCE, NEWOBJ), BUILD and persistent id to a resolver, which knows
// the few names its file format needs and refuses the rest (src/data/numpyPickle.ts for numpy
// arrays, torchPickle.ts for torch.save checkpoints). The binary opcodes of protocols 2 to 5.

/** A global the resolver accepted: a name, not the thing it names. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What a format allows. Each hook throws to refuse; a missing hook refuses its opcode. */
export interface PickleResolver {
  /** GLOBAL / STACK_GLOBAL, with Python 2's module names mapped to Python 3's. */
  global(module: string, name: string): unknown;
  /** REDUCE: `fn(*args)`. */
  reduce?(fn: unknown, args: readonly unknown[]): unknown;
  /** NEWOBJ: `cls.__new__(cls, *args)`. */
  newobj?(cls: unknown, args: readonly unknown[]): unknown;
  /** BUILD: `obj.__setstate__(state)`. */
  build?(obj: unknown, state: unknown): void;
  /** BINPERSID: an object stored outside the pickle. */
  persistentLoad?(pid: unknown): unknown;
}

/** Python values map to: null, boolean, number (bigint when too large), string, Uint8Array
 * (bytes), arrays (lists; tuples are frozen arrays), Map (dicts; bytes keys become latin1
 * strings), arrays for sets, and whatever the resolver returns. */
export type PyValue = unknown;

// Python 2 names (protocol 2 pickles write them, as weights_only's IMPORT_MAPPING reads them)
const PY2_MODULES = new Map([
  ['__builtin__', 'builtins'],
  ['copy_reg', 'copyreg'],
]);

export function isTuple(v: unknown): v is readonly unknown[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

export function latin1Bytes(s: string): Uint8Array {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 255) throw new Error('pickle: bytes payload has a character above U+00FF');
  }
  return Buffer.from(s, 'latin1');
}

function dictKey(k: unknown): unknown {
  return k instanceof Uint8Array ? Buffer.from(k).toString('latin1') : k;
}

function signedLE(d: Uint8Array): number | bigint {
  if (d.length === 0) return 0;
  let v = BigInt(`0x${Buffer.from(d).reverse().toString('hex')}`);
  if (d[d.length - 1]! & 0x80) v -= 1n << BigInt(8 * d.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Runs one pickle starting at byte `start`; returns its value and the byte after its STOP
 * (the legacy torch format puts several pickles one after another). Throws on unknown
 * opcodes, malformed input and whatever the resolver refuses.
 */
export function unpickle(buf: Uint8Array, resolver: PickleResolver, start = 0): { value: PyValue; end: number } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = start;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
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
  const u64 = (): number => {
    const v = b.readBigUInt64LE(need(8));
    if (v > BigInt(b.length)) throw new Error(`pickle: length ${v} at byte ${pos - 8} is larger than the file`);
    return Number(v);
  };
  const line = (): string => {
    const end = b.indexOf(0x0a, pos);
    if (end < 0) throw new Error('pickle: truncated GLOBAL');
    const s = b.toString('utf8', pos, end);
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw new Error(`pickle: stack underflow at byte ${pos}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw new Error(`pickle: empty stack at byte ${pos}`);
    return stack[stack.length - 1];
  };
  // (popMark replaces `stack`: call it before touching the stack, never inside stack.push(...))
  const popMark = (): unknown[] => {
    const items = stack;
    const below = marks.pop();
    if (below === undefined) throw new Error(`pickle: no MARK at byte ${pos}`);
    stack = below;
    return items;
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const resolve = (module: unknown, name: unknown): unknown => {
    if (typeof module !== 'string' || typeof name !== 'string') throw new Error('pickle: a global needs a module and a name');
    return resolver.global(PY2_MODULES.get(module) ?? module, name);
  };
  const hook = <K extends keyof PickleResolver>(k: K, what: string): NonNullable<PickleResolver[K]> => {
    const f = resolver[k];
    if (!f) throw new Error(`pickle: ${what} is not allowed in this file`);
    return (f as (...a: never[]) => unknown).bind(resolver) as NonNullable<PickleResolver[K]>;
  };
  const args = (v: unknown, what: string): readonly unknown[] => {
    if (!Array.isArray(v)) throw new Error(`pickle: ${what} needs an argument tuple`);
    return v;
  };
  const setItems = (d: unknown, kv: unknown[]): void => {
    if (!(d instanceof Map)) throw new Error('pickle: SETITEM on something that is not a dict');
    if (kv.length % 2) throw new Error('pickle: SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) d.set(dictKey(kv[i]), kv[i + 1]);
  };
  const append = (l: unknown, items: unknown[]): void => {
    if (!Array.isArray(l) || Object.isFrozen(l)) throw new Error('pickle: APPEND on something that is not a list');
    for (const x of items) l.push(x);
  };
  const getMemo = (k: number): void => {
    if (!memo.has(k)) throw new Error(`pickle: memo key ${k} is not defined`);
    stack.push(memo.get(k));
  };

  for (;;) {
    const opPos = need(1);
    const op = b[opPos]!;
    // biome-ignore format: one opcode a line, as pickletools lists them
    switch (op) {
      case 0x80: need(1); break; // PROTO
      case 0x95: need(8); break; // FRAME: frames are just a read-ahead hint
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT }
      case 0x5d: stack.push([]); break; // EMPTY_LIST ]
      case 0x29: stack.push(tuple([])); break; // EMPTY_TUPLE )
      case 0x8f: stack.push([]); break; // EMPTY_SET (a set is read as the list of its items)
      case 0x28: marks.push(stack); stack = []; break; // MARK (
      case 0x30: pop(); break; // POP 0
      case 0x31: popMark(); break; // POP_MARK 1
      case 0x32: stack.push(top()); break; // DUP 2
      case 0x64: { const kv = popMark(); const d = new Map(); setItems(d, kv); stack.push(d); break; } // DICT d
      case 0x6c: { const items = popMark(); stack.push(items); break; } // LIST l
      case 0x90: { const items = popMark(); append(top(), items); break; } // ADDITEMS (to a set)
      case 0x91: { const items = popMark(); stack.push(items); break; } // FROZENSET
      case 0x58: { const n = b.readUInt32LE(need(4)); stack.push(bytes(n).toString('utf8')); break; } // BINUNICODE X
      case 0x8c: { const n = b[need(1)]!; stack.push(bytes(n).toString('utf8')); break; } // SHORT_BINUNICODE
      case 0x8d: stack.push(bytes(u64()).toString('utf8')); break; // BINUNICODE8
      case 0x54: { const n = b.readInt32LE(need(4)); stack.push(bytes(n).toString('latin1')); break; } // BINSTRING T
      case 0x55: { const n = b[need(1)]!; stack.push(bytes(n).toString('latin1')); break; } // SHORT_BINSTRING U
      case 0x42: { const n = b.readUInt32LE(need(4)); stack.push(bytes(n)); break; } // BINBYTES B
      case 0x43: { const n = b[need(1)]!; stack.push(bytes(n)); break; } // SHORT_BINBYTES C
      case 0x8e: stack.push(bytes(u64())); break; // BINBYTES8
      case 0x4a: stack.push(b.readInt32LE(need(4))); break; // BININT J
      case 0x4b: stack.push(b[need(1)]!); break; // BININT1 K
      case 0x4d: stack.push(b.readUInt16LE(need(2))); break; // BININT2 M
      case 0x8a: { const n = b[need(1)]!; stack.push(signedLE(bytes(n))); break; } // LONG1
      case 0x8b: { const n = b.readInt32LE(need(4)); stack.push(signedLE(bytes(n))); break; } // LONG4
      case 0x47: stack.push(b.readDoubleBE(need(8))); break; // BINFLOAT G
      case 0x4e: stack.push(null); break; // NONE N
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x74: { const items = popMark(); stack.push(tuple(items)); break; } // TUPLE t
      case 0x85: stack.push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const y = pop(); const x = pop(); stack.push(tuple([x, y])); break; } // TUPLE2
      case 0x87: { const z = pop(); const y = pop(); const x = pop(); stack.push(tuple([x, y, z])); break; } // TUPLE3
      case 0x63: { const module = line(); const name = line(); stack.push(resolve(module, name)); break; } // GLOBAL c
      case 0x93: { const name = pop(); const module = pop(); stack.push(resolve(module, name)); break; } // STACK_GLOBAL
      case 0x52: { const a = pop(); const fn = pop(); stack.push(hook('reduce', 'REDUCE')(fn, args(a, 'REDUCE'))); break; } // REDUCE R
      case 0x81: { const a = pop(); const cls = pop(); stack.push(hook('newobj', 'NEWOBJ')(cls, args(a, 'NEWOBJ'))); break; } // NEWOBJ
      case 0x62: { const state = pop(); hook('build', 'BUILD')(top(), state); break; } // BUILD b
      case 0x51: { const pid = pop(); stack.push(hook('persistentLoad', 'a persistent id (BINPERSID)')(pid)); break; } // BINPERSID Q
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
        return { value: stack[0], end: pos };
      }
      default:
        throw new Error(`pickle: unsupported opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opPos}`);
    }
  }
}
