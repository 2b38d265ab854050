// Process-wide libtorch settings and diagnostics.
import { native } from '../native.js';

export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Tensors alive in native memory (not yet disposed or collected): for leak checks. */
export function liveTensors(): number {
  return native.liveTensors();
}

export const libtorchVersion: string = native.libtorchVersion;
