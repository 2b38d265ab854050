// NumPy .npy files (format 1.0 to write; 1.0-3.0 to read), C order, little-endian.
import { readFileSync } from 'node:fs';
import { tensor } from '../tensor/creation.js';
import type { AnyTypedArray, DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';

const DESCR: Partial<Record<DType, string>> = {
  float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', int16: '<i2', int8: '|i1', uint8: '|u1', bool: '|b1',
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
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = new Uint8Array(10);
  pre.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  new DataView(pre.buffer).setUint16(8, header.length, true);
  return [pre, Buffer.from(header, 'latin1'), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
}

export function saveNpy(path: string, t: Tensor): void {
  writeFileAtomic(path, encodeNpy(t.toArray() as AnyTypedArray, t.shape, t.dtype));
}

export function saveNpyArray(path: string, data: AnyTypedArray, shape: number[], dtype: DType): void {
  writeFileAtomic(path, encodeNpy(data, shape, dtype));
}

/** Reads a .npy file into a new tensor (the caller disposes it). */
export function loadNpy(path: string): Tensor {
  const buf = readFileSync(path);
  const bad = (why: string) => new Error(`${path} is not a readable .npy file: ${why}`);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw bad('no NUMPY magic');
  const major = buf[6]!;
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  if (start > buf.length) throw bad('header runs past the end of the file');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw bad('header lacks descr, fortran_order or shape');
  if (fortran === 'True') throw bad('Fortran-ordered arrays are not supported; save with np.ascontiguousarray');
  const spec = FROM_DESCR[descr === '<b1' ? '|b1' : descr === '<u1' ? '|u1' : descr];
  if (!spec) throw bad(`unsupported dtype ${descr} (supported: ${Object.keys(FROM_DESCR).join(', ')})`);
  const shape = shapeStr.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (buf.length - start < count * spec.bytes) throw bad(`truncated: ${count} values of ${spec.bytes} bytes need ${count * spec.bytes} bytes, ${buf.length - start} present`);
  const copy = new Uint8Array(count * spec.bytes);
  copy.set(buf.subarray(start, start + count * spec.bytes));
  return tensor(spec.make(copy.buffer, count), { shape, dtype: spec.dtype, device: 'cpu' });
}
