// Process-wide libtorch settings and diagnostics.
import { native } from '../native.js';
import { readFileSync } from 'node:fs';

/** Sets libtorch's intra-op CPU threads (torch.set_num_threads). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}

/** libtorch's intra-op CPU threads (torch.get_num_threads). */
export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Tensors alive in native memory (not yet disposed or collected): for leak checks. */
export function liveTensors(): number {
  return native.liveTensors();
}

/** The version of the libtorch the addon was built against ("1.13.1", ...). */
export const libtorchVersion: string = native.libtorchVersion;

/**
 * The BLAS library libtorch's matrix products run in, as loaded in this process (Linux), or
 * null where it cannot be told (no /proc, or a libtorch with MKL built in). The addon links
 * BLIS when it is installed (scripts/build-native.mjs).
 */
export function blasLibrary(): string | null {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return null;
  }
  const m = /\s(\/\S*\/lib(?:blas|blis|openblas|mkl_rt)\b[^\s/]*)$/m.exec(maps);
  return m ? m[1]! : null;
}
