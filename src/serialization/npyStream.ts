// Writing large .npy arrays piece by piece, so results of any data-set size never need to
// be held in memory: rows appended in order, or column blocks of a [rows, cols] matrix
// written in place (the reference's [features, inputs] layout filled input batch by batch).
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AnyTypedArray, DType } from '../tensor/dtype.js';
import { encodeNpy } from './npy.js';

const BYTES: Partial<Record<DType, number>> = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1, bool: 1 };

/**
 * A .npy file written in pieces (for arrays too large to hold at once): the header is written for
 * the full `shape` up front, then whole rows are appended or column blocks of a 2-d array written,
 * and `close()` renames the finished file into place.
 */
export class NpyWriter {
  readonly #fd: number;
  readonly #tmp: string;
  readonly #dataStart: number;
  readonly #bytes: number;
  #appended = 0;
  #closed = false;

  /** Opens `path` (written to a temp file, renamed into place by close()). */
  constructor(
    readonly path: string,
    readonly shape: number[],
    readonly dtype: DType,
  ) {
    const b = BYTES[dtype];
    if (!b) throw new Error(`.npy streaming: unsupported dtype ${dtype}`);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`.npy streaming: shape [${shape.join(', ')}] is not a list of non-negative integers`);
    this.#bytes = b;
    const [pre, header] = encodeNpy(new Uint8Array(0) as AnyTypedArray, shape, dtype);
    this.#tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    this.#fd = openSync(this.#tmp, 'w');
    writeSync(this.#fd, pre!);
    writeSync(this.#fd, header!);
    this.#dataStart = pre!.byteLength + header!.byteLength;
  }

  /** Appends whole rows (C order). */
  appendRows(data: AnyTypedArray): void {
    this.#write(data, this.#dataStart + this.#appended);
    this.#appended += data.byteLength;
  }

  /**
   * Writes columns [col0, col0 + width) of a 2-d array from a block laid out
   * [rows, width] (row-major).
   */
  writeColumns(col0: number, width: number, block: AnyTypedArray): void {
    const [rows, cols] = this.shape as [number, number];
    if (this.shape.length !== 2 || col0 < 0 || col0 + width > cols || block.length !== rows * width) {
      throw new Error(`.npy streaming: bad column block ${col0}+${width} for shape [${this.shape.join(', ')}]`);
    }
    const b = this.#bytes;
    for (let r = 0; r < rows; r++) {
      const view = new Uint8Array(block.buffer, block.byteOffset + r * width * b, width * b);
      this.#write(view, this.#dataStart + (r * cols + col0) * b);
    }
  }

  #write(data: ArrayBufferView, position: number): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(this.#fd, bytes, off, bytes.byteLength - off, position + off);
  }

  /** Syncs the file and renames it into place (a second call does nothing). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    renameSync(this.#tmp, this.path);
  }
}
