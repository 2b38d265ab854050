// NumPy .npy files (format 1.0 to write; 1.0-3.0 to read), C order, little-endian.
import { constants as bufferConstants } from 'node:buffer';
import { z } from 'zod';
import { tensor } from '../tensor/creation.js';
import type { AnyTypedArray, DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';
import { readRegularFile } from './regularFile.js';
import { parseAs } from './schema.js';

const DESCR: Partial<Record<DType, string>> = {
  float32: '<f4',
  float64: '<f8',
  int64: '<i8',
  int32: '<i4',
  int16: '<i2',
  int8: '|i1',
  uint8: '|u1',
  bool: '|b1',
};
const FROM_DESCR: Record<string, { dtype: DType; bytes: number; make: (b: ArrayBuffer, n: number) => AnyTypedArray }> = {
  '<f4': { dtype: 'float32', bytes: 4, make: (b, n) => new Float32Array(b, 0, n) },
  '<f8': { dtype: 'float64', bytes: 8, make: (b, n) => new Float64Array(b, 0, n) },
  '<i8': { dtype: 'int64', bytes: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  '<i4': { dtype: 'int32', bytes: 4, make: (b, n) => new Int32Array(b, 0, n) },
  '<i2': { dtype: 'int16', bytes: 2, make: (b, n) => new Int16Array(b, 0, n) },
  '|i1': { dtype: 'int8', bytes: 1, make: (b, n) => new Int8Array(b, 0, n) },
  '|u1': { dtype: 'uint8', bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  '|b1': { dtype: 'bool', bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
};

/** .npy bytes for a typed array of the given shape (dtype from the array unless given). */
export function encodeNpy(data: AnyTypedArray, shape: number[], dtype: DType): Uint8Array[] {
  const descr = DESCR[dtype];
  if (!descr) throw new Error(`.npy: cannot store dtype ${dtype}`);
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shp}, }`;
  // Pad so the data starts at a multiple of 64 bytes, as numpy does.
  const total = 10 + header.length + 1;
  header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  const pre = new Uint8Array(10);
  pre.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  new DataView(pre.buffer).setUint16(8, header.length, true);
  return [pre, Buffer.from(header, 'latin1'), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
}

/** Writes tensor `t` as a .npy file (its dtype and shape; C order), atomically. */
export function saveNpy(path: string, t: Tensor): void {
  writeFileAtomic(path, encodeNpy(t.toArray() as AnyTypedArray, t.shape, t.dtype));
}

/** Writes a typed array as a .npy file of the given shape and dtype, atomically. */
export function saveNpyArray(path: string, data: AnyTypedArray, shape: number[], dtype: DType): void {
  writeFileAtomic(path, encodeNpy(data, shape, dtype));
}

/** The most a .npy header may hold (numpy itself refuses headers over 10,000 bytes by default). */
const MAX_HEADER_BYTES = 1 << 16;
/** A whole file is read into one buffer: the largest Node can allocate. */
const MAX_FILE_BYTES = bufferConstants.MAX_LENGTH - 1;

const Header = z.object({
  descr: z.string({ error: "expected a dtype string such as '<f4'" }),
  fortran_order: z.literal(false, { error: 'expected False (C order; save with np.ascontiguousarray)' }),
  shape: z.array(z.int({ error: 'expected a non-negative integer' }).nonnegative({ error: 'expected a non-negative integer' }), {
    error: 'expected a tuple of non-negative integers',
  }),
});

/** The parts of a .npy file: its dtype, shape and the bytes of its data, all checked. */
export function decodeNpyHeader(
  buf: Uint8Array,
  path: string,
): { dtype: DType; shape: number[]; count: number; bytes: number; start: number } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || b[0] !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(
      `${path}: magic: expected \\x93NUMPY (a .npy file), got ${b.length < 6 ? `${b.length} bytes` : JSON.stringify(b.toString('latin1', 0, 6))}`,
    );
  }
  const [major, minor] = [b[6]!, b[7]!];
  if (![1, 2, 3].includes(major) || minor !== 0) throw new Error(`${path}: version: expected 1.0, 2.0 or 3.0, got ${major}.${minor}`);
  const lenBytes = major === 1 ? 2 : 4;
  if (b.length < 8 + lenBytes) throw new Error(`${path}: header length: expected ${lenBytes} bytes, got a ${b.length}-byte file`);
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = 8 + lenBytes + hlen;
  if (hlen > MAX_HEADER_BYTES) throw new Error(`${path}: header length: expected at most ${MAX_HEADER_BYTES} bytes, got ${hlen}`);
  if (start > b.length)
    throw new Error(
      `${path}: header length: expected a header inside the ${b.length}-byte file, got ${hlen} bytes from byte ${8 + lenBytes}`,
    );
  const text = b.toString(major === 3 ? 'utf8' : 'latin1', 8 + lenBytes, start);
  let raw: unknown;
  try {
    raw = parsePyLiteral(text);
  } catch (e) {
    throw new Error(
      `${path}: header: expected a Python dict literal, got ${JSON.stringify(text.trim().slice(0, 60))} (${(e as Error).message})`,
    );
  }
  const h = parseAs(Header, raw, path);
  const spec = FROM_DESCR[h.descr === '<b1' ? '|b1' : h.descr === '<u1' ? '|u1' : h.descr === '<i1' ? '|i1' : h.descr];
  if (!spec) throw new Error(`${path}: descr: expected one of ${Object.keys(FROM_DESCR).join(', ')}, got ${JSON.stringify(h.descr)}`);
  let count = 1;
  for (const d of h.shape) count *= d;
  const bytes = count * spec.bytes;
  if (!Number.isSafeInteger(bytes)) throw new Error(`${path}: shape: expected a size that fits in memory, got (${h.shape.join(', ')})`);
  const present = b.length - start;
  if (present !== bytes) {
    throw new Error(
      `${path}: data: expected ${bytes} bytes for ${h.descr} (${h.shape.join(', ')}), got ${present}${present < bytes ? ' (truncated)' : ''}`,
    );
  }
  return { dtype: spec.dtype, shape: h.shape, count, bytes, start };
}

/** Reads a .npy file into a new tensor (the caller disposes it). */
export function loadNpy(path: string): Tensor {
  const buf = readRegularFile(path, MAX_FILE_BYTES);
  const h = decodeNpyHeader(buf, path);
  const spec = FROM_DESCR[DESCR[h.dtype]!]!;
  const copy = new Uint8Array(h.bytes);
  copy.set(buf.subarray(h.start, h.start + h.bytes));
  return tensor(spec.make(copy.buffer, h.count), { shape: h.shape, dtype: h.dtype, device: 'cpu' });
}

/**
 * The Python literal of a .npy header: dicts, tuples, lists, strings, integers, True, False,
 * None. Nothing else (numpy writes nothing else), and nothing is evaluated.
 */
function parsePyLiteral(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${i}`);
  };
  const value = (depth: number): unknown => {
    if (depth > 8) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: unknown[] = [];
      const entries: [string, unknown][] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          break;
        }
        const k = value(depth + 1);
        if (c === '{') {
          ws();
          if (text[i] !== ':') fail('expected :');
          i++;
          if (typeof k !== 'string') fail('dict keys must be strings');
          entries.push([k as string, value(depth + 1)]);
        } else items.push(k);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected , or ${close}`);
      }
      // fromEntries: a key named __proto__ stays a key
      return c === '{' ? Object.fromEntries(entries) : items;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail('unterminated string');
      const s = text.slice(i + 1, end);
      if (s.includes('\\')) fail('escapes in strings are not supported');
      i = end + 1;
      return s;
    }
    const m = /^(-?\d+)L?|^(True|False|None)\b/.exec(text.slice(i, i + 40));
    if (!m) return fail('expected a value');
    i += m[0].length;
    if (m[1] !== undefined) return Number(m[1]);
    return m[2] === 'True' ? true : m[2] === 'False' ? false : null;
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('unexpected text after the dict');
  return v;
}
