// Devices: which ones this build and machine offer, choosing one from a user's request
// ('auto', 'cpu', 'cuda', 'cuda:N'), the default device, synchronisation, mixed precision
// (autocast) and the TF32 switches.
import { native } from '../native.js';
import { canonicalDevice, state, type Device } from './deviceState.js';
import type { DType } from './dtype.js';

export type { Device } from './deviceState.js';
export { hostSide } from './deviceState.js';

/** True when the addon was linked against a CUDA build of libtorch. */
export const builtWithCuda: boolean = native.builtWithCuda;

/** Visible CUDA devices (0 without a CUDA build or driver). */
export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}

/** Whether a CUDA device can be used (a CUDA build and at least one visible device). */
export function cudaAvailable(): boolean {
  return cudaDeviceCount() > 0;
}

/**
 * The device a request names: 'auto' is the first CUDA device when this build has CUDA and
 * one is visible, else the CPU. A CUDA request that cannot be met throws one sentence that
 * says why.
 */
export function resolveDevice(request = 'auto'): Device {
  const r = request.trim().toLowerCase();
  if (r === 'auto') return cudaAvailable() ? 'cuda:0' : 'cpu';
  if (r === 'cpu' || r === 'meta') return r;
  const m = /^cuda(?::(\d+))?$/.exec(r);
  if (!m) throw new Error(`unknown device '${request}' (expected auto, cpu, cuda or cuda:N)`);
  if (!builtWithCuda) {
    throw new Error(
      `--device ${request}: this Sauron addon was built against a CPU-only libtorch; ` +
        'rebuild it against a CUDA libtorch (LIBTORCH=/path/to/libtorch npm ci, see docs/gpus-and-clusters.md) to use a GPU.',
    );
  }
  const n = cudaDeviceCount();
  const index = m[1] === undefined ? 0 : Number(m[1]);
  if (index >= n) {
    throw new Error(
      n === 0
        ? `--device ${request}: no CUDA device is visible (check the driver and CUDA_VISIBLE_DEVICES).`
        : `--device ${request}: only ${n} CUDA device${n === 1 ? '' : 's'} visible (cuda:0${n > 1 ? `..cuda:${n - 1}` : ''}).`,
    );
  }
  return `cuda:${index}`;
}

/** Where creation functions put tensors when given no device (as torch.set_default_device). */
export function setDefaultDevice(device: Device): void {
  state.defaultDevice = canonicalDevice(device);
}

/** Where creation functions put tensors when given no device (initially 'cpu'). */
export function getDefaultDevice(): Device {
  return state.defaultDevice;
}

/** Whether `device` is a CUDA device ('cuda' or 'cuda:N'). */
export function isCuda(device: Device): boolean {
  return device.startsWith('cuda');
}

/** Waits for queued GPU work (timings); a no-op on the CPU. */
export function synchronize(device?: Device): void {
  if (device !== undefined && !isCuda(device)) return;
  if (!builtWithCuda) return;
  const index = device === undefined || device === 'cuda' ? -1 : Number(device.split(':')[1] ?? -1);
  native.synchronize(index);
}

/**
 * Runs fn under autocast on the device's type (torch.autocast): matmuls and convolutions in
 * `dtype`, reductions and losses in float32. A null dtype runs fn as it is.
 */
export function autocast<T>(device: Device, dtype: 'bfloat16' | 'float16' | null, fn: () => T): T {
  if (dtype === null) return fn();
  const type = device.split(':')[0]!;
  const [was, prev] = native.autocastEnter(type, dtype);
  try {
    return fn();
  } finally {
    native.autocastExit(type, was, prev);
  }
}

/** Precision of a computation: float32, or autocast to bf16 / fp16. */
export type Precision = 'fp32' | 'bf16' | 'fp16';
/** Every precision a computation can run in. */
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'fp16'];

/** The autocast dtype of a precision (null for fp32). */
export function autocastDtype(p: Precision): Extract<DType, 'bfloat16' | 'float16'> | null {
  if (!PRECISIONS.includes(p)) throw new Error(`unknown precision '${p}' (expected fp32, bf16 or fp16)`);
  return p === 'bf16' ? 'bfloat16' : p === 'fp16' ? 'float16' : null;
}

/** TF32 tensor-core math for CUDA matmuls and cuDNN convolutions (PyTorch: off, on). */
export function setAllowTF32(o: { matmul?: boolean; cudnn?: boolean }): void {
  const [m, c] = native.getAllowTF32();
  native.setAllowTF32(o.matmul ?? m, o.cudnn ?? c);
}

/**
 * Deterministic GPU results: cuDNN's deterministic algorithms without autotuning, PyTorch's
 * deterministic implementations where an op has several (an op without one warns), and the
 * cuBLAS workspace setting that makes matmuls reproducible. Slower; the CPU is unaffected.
 * Call before the first GPU matmul (cuBLAS reads its setting once).
 */
export function setDeterministic(on: boolean): void {
  if (on && !process.env.CUBLAS_WORKSPACE_CONFIG) process.env.CUBLAS_WORKSPACE_CONFIG = ':4096:8';
  native.setDeterministic(on);
}

/**
 * Runs fn with every tensor it creates checked to be on `device`: a tensor anywhere else
 * throws, naming its shape and the code that made it. For tests of device plumbing.
 */
export function expectDevice<T>(device: Device, fn: () => T): T {
  const prev = state.guard;
  state.guard = canonicalDevice(device);
  try {
    return fn();
  } finally {
    state.guard = prev;
  }
}

/** What libtorch this addon runs on, for benchmarks and model manifests. */
export function buildInfo(): { libtorch: string; cuda: boolean; cudaDevices: number } {
  return { libtorch: native.libtorchVersion, cuda: builtWithCuda, cudaDevices: cudaDeviceCount() };
}
