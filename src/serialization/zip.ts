// Reading a zip archive held in memory (torch.save writes one): the end-of-central-directory
// record, the central directory and each entry's local header, with every offset and size
// checked against the file before it is used, so a damaged or hostile archive gives a message
// instead of bytes from elsewhere. Stored and deflated entries; zip64 sizes and offsets.
import { crc32, inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Where the entry's (compressed) bytes start in the archive. */
  dataOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const LOCATOR64 = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Whether the bytes start like a zip archive (a local file header). */
export function looksLikeZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 3 && b[3] === 4;
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  readonly #b: Buffer;

  /** Parses the directory; throws on anything that does not fit the file. */
  constructor(data: Uint8Array) {
    this.#b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const b = this.#b;
    const eocd = this.#findEocd();
    if (b.readUInt16LE(eocd + 4) !== 0 || b.readUInt16LE(eocd + 6) !== 0) throw new Error('zip: multi-disk archives are not supported');
    let count = b.readUInt16LE(eocd + 10);
    let cdSize = b.readUInt32LE(eocd + 12);
    let cdOffset = b.readUInt32LE(eocd + 16);
    let cdEnd = eocd;
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || b.readUInt32LE(loc) !== LOCATOR64) throw new Error('zip: zip64 sizes without a zip64 locator');
      const at = this.#u64(loc + 8, 'zip64 end record offset');
      if (at + 56 > loc || b.readUInt32LE(at) !== EOCD64)
        throw new Error(`zip: zip64 end record at byte ${at} is missing or outside the file`);
      count = this.#u64(at + 32, 'entry count');
      cdSize = this.#u64(at + 40, 'central directory size');
      cdOffset = this.#u64(at + 48, 'central directory offset');
      cdEnd = at;
    }
    if (cdOffset + cdSize > cdEnd) {
      throw new Error(
        `zip: the central directory (bytes ${cdOffset}..${cdOffset + cdSize}) lies outside the file (its end record is at byte ${cdEnd})`,
      );
    }
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdOffset + cdSize || b.readUInt32LE(p) !== CENTRAL)
        throw new Error(`zip: central directory entry ${i} of ${count} is missing or damaged`);
      const flags = b.readUInt16LE(p + 8);
      const method = b.readUInt16LE(p + 10);
      const crc = b.readUInt32LE(p + 16);
      let compressedSize = b.readUInt32LE(p + 20);
      let size = b.readUInt32LE(p + 24);
      const nameLen = b.readUInt16LE(p + 28);
      const extraLen = b.readUInt16LE(p + 30);
      const commentLen = b.readUInt16LE(p + 32);
      let local = b.readUInt32LE(p + 42);
      const next = p + 46 + nameLen + extraLen + commentLen;
      if (next > cdOffset + cdSize) throw new Error(`zip: central directory entry ${i} runs past the directory`);
      const name = b.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extra field: the 64-bit values, in this order, of the fields that hold all ones
      const extra = this.#zip64Extra(p + 46 + nameLen, extraLen);
      if (extra) {
        let q = extra.start;
        const take = (what: string): number => {
          if (q + 8 > extra.end) throw new Error(`zip: ${name}: zip64 extra field is too short for the ${what}`);
          const v = this.#u64(q, what);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (local === 0xffffffff) local = take('header offset');
      }
      if (this.entries.has(name)) throw new Error(`zip: the entry ${name} appears twice`);
      if (flags & 1) throw new Error(`zip: ${name} is encrypted`);
      if (method !== 0 && method !== 8)
        throw new Error(`zip: ${name} uses compression method ${method} (only stored and deflated entries are read)`);
      if (method === 0 && size !== compressedSize)
        throw new Error(`zip: ${name} is stored but its sizes differ (${compressedSize} vs ${size})`);
      if (local + 30 > cdOffset || b.readUInt32LE(local) !== LOCAL)
        throw new Error(`zip: ${name}: its local header at byte ${local} is missing or outside the file`);
      const dataOffset = local + 30 + b.readUInt16LE(local + 26) + b.readUInt16LE(local + 28);
      if (b.toString('utf8', local + 30, local + 30 + b.readUInt16LE(local + 26)) !== name)
        throw new Error(`zip: ${name}: its local header names another file`);
      if (dataOffset + compressedSize > cdOffset) {
        throw new Error(
          `zip: ${name}: its ${compressedSize} bytes at byte ${dataOffset} run past the entries (the central directory starts at byte ${cdOffset})`,
        );
      }
      this.entries.set(name, { name, method, crc, compressedSize, size, dataOffset });
      p = next;
    }
  }

  /** The entry's bytes (stored entries are views into the archive), checked against its CRC-32. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new Error(`zip: no entry ${name}`);
    const raw = this.#b.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
    let out: Uint8Array = raw;
    if (e.method === 8) {
      try {
        out = inflateRawSync(raw, { maxOutputLength: Math.max(e.size, 1) });
      } catch (err) {
        throw new Error(`zip: ${name} does not inflate to its ${e.size} bytes (${(err as Error).message})`);
      }
      if (out.length !== e.size) throw new Error(`zip: ${name} inflates to ${out.length} bytes, its header says ${e.size}`);
    }
    if (crc32(out) >>> 0 !== e.crc) throw new Error(`zip: ${name} is damaged (its CRC-32 does not match)`);
    return out;
  }

  #findEocd(): number {
    const b = this.#b;
    // the record is 22 bytes plus a comment of at most 65535: search backwards from the end
    for (let p = b.length - 22; p >= Math.max(0, b.length - 22 - 0xffff); p--) {
      if (b.readUInt32LE(p) === EOCD && p + 22 + b.readUInt16LE(p + 20) === b.length) return p;
    }
    throw new Error(
      looksLikeZip(b)
        ? `zip: no end-of-central-directory record: the archive is truncated or damaged (${b.length} bytes)`
        : 'zip: not a zip archive',
    );
  }

  #zip64Extra(start: number, len: number): { start: number; end: number } | null {
    const b = this.#b;
    for (let q = start; q + 4 <= start + len; ) {
      const id = b.readUInt16LE(q);
      const n = b.readUInt16LE(q + 2);
      if (q + 4 + n > start + len) break;
      if (id === 1) return { start: q + 4, end: q + 4 + n };
      q += 4 + n;
    }
    return null;
  }

  #u64(at: number, what: string): number {
    const v = this.#b.readBigUInt64LE(at);
    if (v > BigInt(this.#b.length)) throw new Error(`zip: the ${what} (${v}) is larger than the file (${this.#b.length} bytes)`);
    return Number(v);
  }
}
