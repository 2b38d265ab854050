// safetensors: 8-byte little-endian header length, a JSON header, then raw little-endian data.
import { readFileSync } from 'node:fs';
import { tensor } from '../tensor/creation.js';
import type { AnyTypedArray, DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';

const TO_ST: Partial<Record<DType, string>> = {
  float32: 'F32', float64: 'F64', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
const FROM_ST: Record<string, { dtype: DType; bytes: number; make: (b: ArrayBuffer, off: number, n: number) => AnyTypedArray }> = {
  F32: { dtype: 'float32', bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  F64: { dtype: 'float64', bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  I64: { dtype: 'int64', bytes: 8, make: (b, o, n) => new BigInt64Array(b, o, n) },
  I32: { dtype: 'int32', bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  I16: { dtype: 'int16', bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  I8: { dtype: 'int8', bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  U8: { dtype: 'uint8', bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  BOOL: { dtype: 'bool', bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
};

/** Encodes named tensors as safetensors bytes (header, then data in the given order). */
export function encodeSafetensors(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const datas: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const code = TO_ST[t.dtype];
    if (!code) throw new Error(`safetensors: cannot store ${name} of dtype ${t.dtype}`);
    const arr = t.toArray() as AnyTypedArray;
    const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    header[name] = { dtype: code, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    datas.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.byteLength));
  return [len, head, ...datas];
}

export function saveSafetensors(path: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Decodes safetensors bytes into new tensors (the caller owns and disposes them). */
export function decodeSafetensors(buf: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const bad = (why: string) => new Error(`${source} is not a valid safetensors file: ${why}`);
  if (buf.byteLength < 8) throw bad('shorter than its 8-byte header length');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > buf.byteLength - 8) throw bad(`header length ${n} exceeds the file size`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch {
    throw bad('header is not JSON');
  }
  const base = 8 + n;
  const dataLen = buf.byteLength - base;
  const tensors = new Map<string, Tensor>();
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  try {
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const { dtype, shape, data_offsets: off } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
      const spec = FROM_ST[dtype];
      if (!spec) throw bad(`tensor ${name} has unsupported dtype ${dtype}`);
      const count = shape.reduce((a, b) => a * b, 1);
      if (!Array.isArray(off) || off[1] - off[0] !== count * spec.bytes || off[0] < 0 || off[1] > dataLen) {
        throw bad(`tensor ${name} has offsets [${off}] that do not fit its shape [${shape}] or the file`);
      }
      // Copy into an aligned buffer: typed arrays need offsets that are multiples of their size.
      const copy = new Uint8Array(off[1] - off[0]);
      copy.set(buf.subarray(base + off[0], base + off[1]));
      tensors.set(name, tensor(spec.make(copy.buffer, 0, count), { shape, dtype: spec.dtype, device: 'cpu' }));
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata };
}

export function loadSafetensors(path: string): SafetensorsFile {
  return decodeSafetensors(readFileSync(path), path);
}
