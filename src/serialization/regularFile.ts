// Reading a file a user gave: only regular files, and never more than a cap. A FIFO would
// hang the read, a link to /dev/zero would fill memory, and a file that grows while it is
// read would slip past a size checked once: so the size is checked before opening, the open
// cannot block, and at most cap + 1 bytes are ever read.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

export const MIB = 1024 * 1024;

/** What a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${+v.toFixed(1)} ${units[u]} (${n} bytes)`;
}

function explain(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new Error(`${path} does not exist`);
  if (code === 'ELOOP') return new Error(`${path} is a symlink loop`);
  return new Error(`${path} cannot be read (${code ?? (e as Error).message})`);
}

/** Throws unless `st` is a regular file of at most maxBytes. */
function refuse(path: string, st: Stats, maxBytes: number): void {
  if (!st.isFile()) throw new Error(`${path} is ${fileKind(st)}, not a regular file`);
  if (st.size > maxBytes) throw new Error(`${path} is ${formatBytes(st.size)}, over the limit of ${formatBytes(maxBytes)}`);
}

/** The file's size, after checking (through symlinks) that it is a regular file of at most maxBytes. */
export function checkRegularFile(path: string, maxBytes: number): number {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw explain(path, e);
  }
  refuse(path, st, maxBytes);
  return st.size;
}

// O_NONBLOCK: should the path become a FIFO between the check and the open, the open still returns
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** A read buffer sized for the file's size that grows to at most maxBytes + 1: filling that says the file grew. */
class CappedBuffer {
  #buf: Buffer;
  #n = 0;

  constructor(
    readonly path: string,
    size: number,
    readonly maxBytes: number,
  ) {
    this.#buf = Buffer.allocUnsafe(Math.min(size, maxBytes) + 1);
  }

  /** Where the next read goes: [buffer, offset, length]. */
  next(): [Buffer, number, number] {
    if (this.#n === this.#buf.length) {
      if (this.#n > this.maxBytes) throw new Error(`${this.path} grew past the limit of ${formatBytes(this.maxBytes)} while it was read`);
      const bigger = Buffer.allocUnsafe(Math.min(this.#buf.length * 2, this.maxBytes + 1));
      this.#buf.copy(bigger, 0, 0, this.#n);
      this.#buf = bigger;
    }
    return [this.#buf, this.#n, this.#buf.length - this.#n];
  }

  /** Records `got` bytes read; true at the end of the file. */
  add(got: number): boolean {
    this.#n += got;
    return got === 0;
  }

  get bytes(): Buffer {
    return this.#buf.subarray(0, this.#n);
  }
}

/** The bytes of a regular file of at most maxBytes (a FIFO, device or socket is refused unopened). */
export function readRegularFile(path: string, maxBytes: number): Buffer {
  checkRegularFile(path, maxBytes);
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw explain(path, e);
  }
  try {
    const st = fstatSync(fd);
    refuse(path, st, maxBytes);
    const buf = new CappedBuffer(path, st.size, maxBytes);
    while (!buf.add(readSync(fd, ...buf.next(), null)));
    return buf.bytes;
  } finally {
    closeSync(fd);
  }
}

/** readRegularFile without blocking the event loop (image decoding reads several files at once). */
export async function readRegularFileAsync(path: string, maxBytes: number): Promise<Buffer> {
  try {
    refuse(path, await stat(path), maxBytes);
  } catch (e) {
    throw (e as NodeJS.ErrnoException).code ? explain(path, e) : e;
  }
  const fh = await open(path, OPEN_FLAGS).catch((e: unknown) => {
    throw explain(path, e);
  });
  try {
    const st = await fh.stat();
    refuse(path, st, maxBytes);
    const buf = new CappedBuffer(path, st.size, maxBytes);
    while (!buf.add((await fh.read(...buf.next(), null)).bytesRead));
    return buf.bytes;
  } finally {
    await fh.close();
  }
}
