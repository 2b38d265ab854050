// IDX files (the MNIST family's format), optionally gzipped: magic 0x00000803 for uint8
// images [N, H, W], 0x00000801 for uint8 labels [N].
import { existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { formatBytes, MIB, readRegularFile } from '../serialization/regularFile.js';

/** Far above any IDX file of the MNIST family (Fashion-MNIST's training images are 47 MB), packed or not. */
const MAX_BYTES = 1024 * MIB;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function readIdx(path: string, expectedMagic: 0x801 | 0x803): IdxArray {
  if (!existsSync(path)) throw new Error(`${path} is missing`);
  let buf: Buffer = readRegularFile(path, MAX_BYTES);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf, { maxOutputLength: MAX_BYTES });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw new Error(`${path} unpacks to more than ${formatBytes(MAX_BYTES)}`);
      throw new Error(`${path} is a damaged or truncated gzip file (${(e as Error).message})`);
    }
  }
  if (buf.length < 8) throw new Error(`${path} is too short to be an IDX file`);
  const magic = buf.readUInt32BE(0);
  if (magic !== expectedMagic) {
    throw new Error(
      `${path} has magic number 0x${magic.toString(16).padStart(8, '0')}, ` +
        `expected 0x${expectedMagic.toString(16).padStart(8, '0')} (${expectedMagic === 0x803 ? 'images' : 'labels'})`,
    );
  }
  const nd = magic & 0xff;
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const start = 4 + 4 * nd;
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length - start < count) {
    throw new Error(`${path} is truncated: its header promises ${count} values, it holds ${buf.length - start}`);
  }
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + start, count) };
}
