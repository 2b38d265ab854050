// safetensors: 8-byte little-endian header length, a JSON header, then raw little-endian data.
import { constants as bufferConstants } from 'node:buffer';
import { z } from 'zod';
import { tensor } from '../tensor/creation.js';
import type { AnyTypedArray, DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';
import { readRegularFile } from './regularFile.js';
import { fieldPath, parseAs } from './schema.js';

/** A whole file is read into one buffer: the largest Node can allocate. */
const MAX_FILE_BYTES = bufferConstants.MAX_LENGTH - 1;

const TO_ST: Partial<Record<DType, string>> = {
  float32: 'F32',
  float64: 'F64',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
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

/** Writes named tensors (and string metadata) as a safetensors file, atomically. */
export function saveSafetensors(path: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** The contents of a safetensors file: new tensors by name (the caller disposes them) and the metadata. */
export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** The most a header may hold (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

const Entry = z.object({
  dtype: z.enum(Object.keys(FROM_ST) as [string, ...string[]], { error: `expected one of ${Object.keys(FROM_ST).join(', ')}` }),
  shape: z.array(z.int({ error: 'expected a non-negative integer' }).nonnegative({ error: 'expected a non-negative integer' })),
  data_offsets: z.tuple([z.int().nonnegative(), z.int().nonnegative()], { error: 'expected two byte offsets [begin, end]' }),
});
const Header = z.object({ __metadata__: z.record(z.string(), z.string()).optional() }).catchall(Entry);

interface Placed {
  name: string;
  begin: number;
  end: number;
}

/** Decodes safetensors bytes into new tensors (the caller owns and disposes them). */
export function decodeSafetensors(buf: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const bad = (why: string) => new Error(`${source} is not a valid safetensors file: ${why}`);
  if (buf.byteLength < 8) throw bad(`shorter than its 8-byte header length (${buf.byteLength} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(buf.byteLength - 8)) throw bad(`header length ${declared} exceeds the file size (${buf.byteLength} bytes)`);
  const n = Number(declared);
  if (n < 2 || n > MAX_HEADER_BYTES) throw bad(`header length ${n} is outside 2..${MAX_HEADER_BYTES}`);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch {
    throw bad('header is not JSON');
  }
  const header = parseAs(Header, raw, source);
  const base = 8 + n;
  const dataLen = buf.byteLength - base;
  const entries = Object.entries(header).filter(([name]) => name !== '__metadata__') as [string, z.output<typeof Entry>][];
  const placed: Placed[] = [];
  for (const [
    name,
    {
      dtype,
      shape,
      data_offsets: [begin, end],
    },
  ] of entries) {
    const field = `${source}: ${fieldPath([name, 'data_offsets'])}`;
    let count = 1;
    for (const d of shape) count *= d;
    const bytes = count * FROM_ST[dtype]!.bytes;
    if (!Number.isSafeInteger(bytes))
      throw new Error(`${source}: ${fieldPath([name, 'shape'])}: expected a size that fits in memory, got [${shape.join(', ')}]`);
    if (end < begin || end > dataLen)
      throw new Error(`${field}: expected offsets within the ${dataLen}-byte data area, got [${begin}, ${end}]`);
    if (end - begin !== bytes) {
      throw new Error(
        `${field}: expected ${bytes} bytes for ${dtype} [${shape.join(', ')}], got [${begin}, ${end}] (${end - begin} bytes)`,
      );
    }
    placed.push({ name, begin, end });
  }
  // empty tensors take no bytes: only the others can overlap
  const used = placed.filter((p) => p.end > p.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < used.length; i++) {
    const [p, q] = [used[i - 1]!, used[i]!];
    if (q.begin < p.end) {
      throw new Error(
        `${source}: ${fieldPath([q.name, 'data_offsets'])}: expected bytes no other tensor uses, ` +
          `got [${q.begin}, ${q.end}], overlapping ${p.name} [${p.begin}, ${p.end}]`,
      );
    }
  }
  const tensors = new Map<string, Tensor>();
  try {
    for (const [
      name,
      {
        dtype,
        shape,
        data_offsets: [begin, end],
      },
    ] of entries) {
      const spec = FROM_ST[dtype]!;
      // Copy into an aligned buffer: typed arrays need offsets that are multiples of their size.
      const copy = new Uint8Array(end - begin);
      copy.set(buf.subarray(base + begin, base + end));
      tensors.set(name, tensor(spec.make(copy.buffer, 0, (end - begin) / spec.bytes), { shape, dtype: spec.dtype, device: 'cpu' }));
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata: header.__metadata__ ?? {} };
}

/** Reads a safetensors file, every header field checked; one-line errors name the file and the field. */
export function loadSafetensors(path: string): SafetensorsFile {
  return decodeSafetensors(readRegularFile(path, MAX_FILE_BYTES), path);
}
