// The tensors of a torch.save checkpoint: a storage (a record of raw little-endian values of one
// element type) and a view of it (offset, sizes, strides). A view is checked against its
// storage before any value is read, and read by an explicit gather on the host, so a
// hostile file cannot make the reader touch bytes outside the record it names.
import { tensor } from '../tensor/creation.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';

/** torch.FloatStorage and friends: the element type of a storage. */
export class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: DType,
    readonly itemsize: number,
  ) {}
}

export const STORAGE_TYPES: ReadonlyMap<string, StorageType> = new Map(
  [
    ['FloatStorage', 'float32', 4],
    ['DoubleStorage', 'float64', 8],
    ['HalfStorage', 'float16', 2],
    ['BFloat16Storage', 'bfloat16', 2],
    ['LongStorage', 'int64', 8],
    ['IntStorage', 'int32', 4],
    ['ShortStorage', 'int16', 2],
    ['CharStorage', 'int8', 1],
    ['ByteStorage', 'uint8', 1],
    ['BoolStorage', 'bool', 1],
  ].map(([n, d, s]) => [n as string, new StorageType(n as string, d as DType, s as number)]),
);

export class TorchStorage {
  /** The record's bytes, set once the archive has been read. */
  bytes: Uint8Array | null = null;
  constructor(
    readonly key: string,
    readonly type: StorageType,
    readonly numel: number,
    readonly record: string,
  ) {}

  /** Sets the record's bytes after checking they hold exactly the declared number of values. */
  attach(bytes: Uint8Array): void {
    const { itemsize, dtype } = this.type;
    if (bytes.length % itemsize !== 0) {
      throw new Error(`storage record ${this.record} holds ${bytes.length} bytes, not a whole number of ${itemsize}-byte ${dtype} values`);
    }
    if (bytes.length !== this.numel * itemsize) {
      throw new Error(`storage record ${this.record} holds ${bytes.length / itemsize} ${dtype} values, the pickle declares ${this.numel}`);
    }
    this.bytes = bytes;
  }
}

// A view may repeat its storage's values (stride 0, as expand() makes) but not without bound:
// a few bytes claiming [2^40] with stride 0 would otherwise exhaust memory.
const MAX_REPEATED = 2 ** 26;

type Gatherable = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array;

let halfTable: Float32Array | null = null;
function halfToFloat(src: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const f = h & 0x3ff;
      halfTable[h] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
    }
  }
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = halfTable[src[i]!]!;
  return out;
}

function bfloat16ToFloat(src: Uint16Array): Float32Array {
  const bits = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return new Float32Array(bits.buffer);
}

/** dst[i] = src at the i-th index of the view, in C order. */
function gather<T extends Gatherable>(src: T, dst: T, offset: number, shape: readonly number[], stride: readonly number[]): void {
  if (dst.length === 0) return;
  const n = shape.length;
  if (n === 0) {
    dst[0] = src[offset]!;
    return;
  }
  const idx = new Array<number>(n).fill(0);
  const len = shape[n - 1]!;
  const step = stride[n - 1]!;
  let base = offset;
  let o = 0;
  for (;;) {
    for (let j = 0, p = base; j < len; j++, p += step) dst[o++] = src[p]!;
    let d = n - 2;
    for (; d >= 0; d--) {
      base += stride[d]!;
      if (++idx[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/**
 * A tensor as a torch.save checkpoint's pickle describes it (storage, offset, sizes, strides),
 * read without running any of the pickle's code; its data is taken out with the reader's functions.
 */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: unknown,
    readonly size: unknown,
    readonly stride: unknown,
  ) {}

  get dtype(): DType {
    return this.storage.type.dtype;
  }

  /** The view's sizes, once check() has passed. */
  get shape(): number[] {
    return [...(this.size as number[])];
  }

  /** Why the view does not fit its storage, or null when it does. */
  problem(): string | null {
    const { size, stride, offset } = this;
    const ints = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isSafeInteger(x));
    if (!ints(size) || !ints(stride) || size.length !== stride.length)
      return 'its sizes and strides are not two lists of integers of one length';
    if (!Number.isSafeInteger(offset)) return 'its storage offset is not an integer';
    const desc = `size [${size.join(', ')}], stride [${stride.join(', ')}], offset ${offset}`;
    if (size.some((s) => s < 0) || stride.some((s) => s < 0) || (offset as number) < 0)
      return `${desc}: negative sizes, strides or offsets are not allowed`;
    const numel = size.reduce((a, s) => a * s, 1);
    if (numel === 0) return null;
    const extent = (offset as number) + size.reduce((a, s, i) => a + (s - 1) * stride[i]!, 0) + 1;
    const avail = this.storage.numel;
    if (!(extent <= avail)) return `${desc} reaches value ${extent} of a storage that holds ${avail} (record ${this.storage.record})`;
    if (numel > avail && numel > MAX_REPEATED)
      return `${desc} repeats the ${avail} values of its storage into ${numel} (at most ${MAX_REPEATED})`;
    return null;
  }

  /** The values as a contiguous host tensor; float16, bfloat16 and float64 become float32. */
  load(): Tensor {
    const p = this.problem();
    if (p) throw new Error(`tensor ${p}`);
    const bytes = this.storage.bytes;
    if (!bytes) throw new Error(`storage record ${this.storage.record} was not read`);
    const { itemsize, dtype } = this.storage.type;
    const shape = this.shape;
    const numel = shape.reduce((a, s) => a * s, 1);
    // typed arrays need aligned bytes: view them in place when they are, else copy
    const aligned = bytes.byteOffset % itemsize === 0 ? bytes : new Uint8Array(bytes);
    const view = <A>(C: new (b: ArrayBufferLike, o: number, n: number) => A): A =>
      new C(aligned.buffer, aligned.byteOffset, aligned.length / itemsize);
    const take = <T extends Gatherable>(src: T, make: (n: number) => T): T => {
      const dst = make(numel);
      gather(src, dst, this.offset as number, shape, this.stride as number[]);
      return dst;
    };
    const opts = { shape, device: 'cpu' as const };
    switch (dtype) {
      case 'float32':
        return tensor(
          take(view(Float32Array), (n) => new Float32Array(n)),
          opts,
        );
      case 'float64':
        return tensor(Float32Array.from(take(view(Float64Array), (n) => new Float64Array(n))), opts);
      case 'float16':
        return tensor(halfToFloat(take(view(Uint16Array), (n) => new Uint16Array(n))), opts);
      case 'bfloat16':
        return tensor(bfloat16ToFloat(take(view(Uint16Array), (n) => new Uint16Array(n))), opts);
      case 'int64':
        return tensor(
          take(view(BigInt64Array), (n) => new BigInt64Array(n)),
          opts,
        );
      case 'int32':
        return tensor(
          take(view(Int32Array), (n) => new Int32Array(n)),
          opts,
        );
      case 'int16':
        return tensor(
          take(view(Int16Array), (n) => new Int16Array(n)),
          opts,
        );
      case 'int8':
        return tensor(
          take(view(Int8Array), (n) => new Int8Array(n)),
          opts,
        );
      case 'uint8':
        return tensor(
          take(view(Uint8Array), (n) => new Uint8Array(n)),
          opts,
        );
      case 'bool':
        return tensor(
          take(view(Uint8Array), (n) => new Uint8Array(n)).map((v) => (v ? 1 : 0)),
          { ...opts, dtype: 'bool' },
        );
    }
  }
}
