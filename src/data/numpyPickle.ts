// The Python pickles data sets ship in (CIFAR-10's python version): the pickle machine of
// src/serialization with a resolver that knows only the globals needed to rebuild a numpy
// array. Nothing is ever executed: every other global is refused.
import { PyGlobal, latin1Bytes, unpickle, type PickleResolver, type PyValue } from '../serialization/pickle.js';

export type { PyValue };

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

const ALLOWED = new Set([
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.ndarray',
  'numpy.dtype',
  '_codecs.encode',
]);

function reduce(fn: unknown, args: readonly unknown[]): unknown {
  if (!(fn instanceof PyGlobal)) throw new Error('pickle: REDUCE needs a global');
  switch (fn.qualified) {
    case 'numpy.core.multiarray._reconstruct':
    case 'numpy._core.multiarray._reconstruct': {
      const cls = args[0];
      if (!(cls instanceof PyGlobal) || cls.qualified !== 'numpy.ndarray')
        throw new Error('pickle: _reconstruct only rebuilds numpy.ndarray');
      return new NdArray();
    }
    case 'numpy.dtype':
      if (typeof args[0] !== 'string') throw new Error('pickle: numpy.dtype needs a descriptor string');
      return new PyDtype(args[0]);
    case '_codecs.encode': {
      const [s, enc] = args;
      if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1'))
        throw new Error("pickle: _codecs.encode is only supported as encode(str, 'latin1')");
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
  const [shape, dtype, fortran, raw] = (state.length === 5 ? state.slice(1) : state) as unknown[];
  if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0))
    throw new Error('pickle: numpy array has an invalid shape');
  if (!(dtype instanceof PyDtype)) throw new Error('pickle: numpy array has no dtype');
  if (fortran) throw new Error('pickle: Fortran-ordered numpy arrays are not supported');
  // Python 2 pickles the buffer as a str (decoded here as latin1), Python 3 as bytes.
  const data = typeof raw === 'string' ? latin1Bytes(raw) : raw;
  if (!(data instanceof Uint8Array))
    throw new Error(`pickle: numpy array of dtype ${dtype.descr} has no raw buffer (object arrays are not supported)`);
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

const NUMPY: PickleResolver = {
  global(module, name) {
    const g = new PyGlobal(module, name);
    if (!ALLOWED.has(g.qualified)) throw new Error(`refusing to load pickle global ${g.qualified}`);
    return g;
  },
  reduce,
  build,
};

/** Parses one pickle. Throws on unknown opcodes, malformed input and any global not allow-listed. */
export function parsePickle(buf: Uint8Array): PyValue {
  return unpickle(buf, NUMPY).value;
}
