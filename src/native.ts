// Loads the libtorch addon and describes its surface. Only src/tensor and src/optim (libtorch's
// own optimizers) import this; everything else goes through them.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A tensor's id in the addon's tensor table. */
export type NativeTensor = number;

export interface NativeTensorFunctions {
  dispose(t: NativeTensor): void;
  isDisposed(t: NativeTensor): boolean;
  shape(t: NativeTensor): number[];
  dtype(t: NativeTensor): string;
  device(t: NativeTensor): string;
  numel(t: NativeTensor): number;
  requiresGrad(t: NativeTensor): boolean;
  setRequiresGrad(t: NativeTensor, on: boolean): void;
  grad(t: NativeTensor): NativeTensor | null;
  setGrad(t: NativeTensor, g: NativeTensor | null): void;
  isLeaf(t: NativeTensor): boolean;
  toArray(t: NativeTensor): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Uint8Array | Int8Array;
  item(t: NativeTensor): number | boolean;
  backward(t: NativeTensor, gradient: NativeTensor | null, retainGraph?: boolean, createGraph?: boolean): void;
  sameAs(a: NativeTensor, b: NativeTensor): boolean;
  copyFromArray(t: NativeTensor, data: ArrayBufferView): void;
}

export type NativeValue = NativeTensor | number | boolean | string | null | NativeValue[];

export interface NativeOp {
  call(...args: unknown[]): NativeValue;
  run(...args: unknown[]): void;
  schema(): string;
}

export interface NativeGenerator {
  manualSeed(seed: number | bigint): void;
  initialSeed(): bigint;
  getState(): NativeTensor;
  setState(state: NativeTensor): void;
}

export interface NativeOptimizer {
  step(): void;
  zeroGrad(): void;
  getLr(): number;
  setLr(lr: number): void;
  saveState(): Buffer;
  loadState(state: Buffer): void;
}

export interface NativeScriptModule {
  forward(...inputs: NativeTensor[]): NativeValue | Record<string, NativeValue>;
  namedParameters(): [string, NativeTensor][];
  namedBuffers(): [string, NativeTensor][];
  childNames(): string[];
  /** Makes forwardCaptured return [forward's output, the output of the submodule at the dotted path]. */
  capture(path: string): void;
  forwardCaptured(...inputs: NativeTensor[]): NativeValue;
  train(on: boolean): void;
  save(path: string): void;
  typeName(): string;
  registerTensor(name: string, t: NativeTensor, isBuffer: boolean): void;
  define(source: string): void;
  to(device: string): void;
}

export interface NativeAddon {
  tensor: NativeTensorFunctions;
  Generator: new (seed?: number | bigint, device?: string) => NativeGenerator;
  Op: new (name: string, overload?: string) => NativeOp;
  Optimizer: new (kind: string, params: NativeTensor[], options: Record<string, number | boolean | undefined>) => NativeOptimizer;
  /** Throws an error with `unsafeTensor: true` when a tensor reaches past the bytes the file holds. */
  ScriptModule: new (
    path: string,
    empty?: boolean,
    device?: string,
  ) => NativeScriptModule;
  fromArray(data: ArrayBufferView, shape: number[], dtype: string, device?: string): NativeTensor;
  /** True when the addon was linked against a CUDA libtorch. */
  builtWithCuda: boolean;
  cudaDeviceCount(): number;
  synchronize(index?: number): void;
  setData(dst: NativeTensor, src: NativeTensor): void;
  /** c10d over Gloo (false when the addon was built without gloo's headers). */
  hasGloo: boolean;
  initProcessGroup(o: {
    rank: number;
    worldSize: number;
    host: string;
    port: number;
    timeoutMs: number;
    agentStore: boolean;
    prefix?: string;
  }): void;
  allReduce(tensors: NativeTensor[], op: string): void;
  broadcast(tensors: NativeTensor[], root: number): void;
  allGather(t: NativeTensor): NativeTensor[];
  barrier(): void;
  storeAdd(key: string, delta: number): number;
  storeCheck(key: string): boolean;
  syncBatchNorm(
    x: NativeTensor,
    weight: NativeTensor | null,
    bias: NativeTensor | null,
    runningMean: NativeTensor,
    runningVar: NativeTensor,
    momentum: number,
    eps: number,
  ): NativeTensor;
  destroyProcessGroup(): void;
  /** max_pool2d with kernel = stride, no padding or dilation (native/pool.cc). */
  maxPool2dTiled(x: NativeTensor, kh: number, kw: number): NativeTensor;
  /** FAB's Linf projection of CPU float32 rows, t and w [n, D], b [n] -> d [n, D] (native/fabProjection.cc). */
  fabProjectionLinf(t: NativeTensor, w: NativeTensor, b: NativeTensor): NativeTensor;
  /** conv2d as torch.nn.functional.conv2d; the input gradient of 1 to 3 input channels is libtorch's im2col kernel's (native/conv.cc). */
  conv2d(
    x: NativeTensor,
    w: NativeTensor,
    b: NativeTensor | null,
    stride: number | number[],
    padding: number | number[],
    dilation: number | number[],
    groups: number,
  ): NativeTensor;
  /** Whether the addon was built with oneDNN's headers (native/convStack.cc). */
  convStackAvailable(): boolean;
  /** Why convStack cannot run x through these layers, or null. */
  convStackUnsupported(x: NativeTensor, layers: unknown[]): string | null;
  /** Convolutions (each with its ReLU or not) and max poolings run in oneDNN's blocked layout (native/convStack.cc). */
  convStack(x: NativeTensor, layers: unknown[]): NativeTensor;
  /** convStack without a gradient, on plain or channel-blocked [N, C / B, H, W, B] inputs and outputs (block: 0 plain, -1 oneDNN's). */
  convStackBlocked(x: NativeTensor, layers: unknown[], block: number): NativeTensor;
  /** The rows the stack's backward has run in this process (rows with a zero output gradient are left out). */
  convStackBackwardRows(): number;
  /** Row r's hh x ww window of x at (ys[r], xs[r]), and the same windows written back (native/window.cc). */
  windows(x: NativeTensor, ys: Int32Array, xs: Int32Array, hh: number, ww: number): NativeTensor;
  putWindows_(x: NativeTensor, ys: Int32Array, xs: Int32Array, v: NativeTensor, rows: NativeTensor | null): void;
  autocastEnter(deviceType: string, dtype: string): [boolean, string];
  autocastExit(deviceType: string, wasEnabled: boolean, previousDtype: string): void;
  setAllowTF32(matmul: boolean, cudnn: boolean): void;
  getAllowTF32(): [boolean, boolean];
  setDeterministic(on: boolean): void;
  grad(
    outputs: NativeTensor[],
    inputs: NativeTensor[],
    gradOutputs: NativeTensor[] | null,
    retainGraph: boolean | undefined,
    createGraph: boolean,
    allowUnused: boolean,
  ): (NativeTensor | null)[];
  setGradEnabled(on: boolean): void;
  isGradEnabled(): boolean;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number): void;
  liveTensors(): number;
  parallelInfo(): string;
  libtorchVersion: string;
}

function findAddon(): string {
  // A prebuilt addon elsewhere (the GPU check builds one against another libtorch).
  const given = process.env.SAURON_ADDON;
  if (given) {
    if (!existsSync(given)) throw new Error(`sauron: SAURON_ADDON=${given} does not exist`);
    return given;
  }
  // src/native.ts and dist/native.js both sit one level below the package root.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  for (const p of ['build/Release/sauron_native.node', 'build/Debug/sauron_native.node']) {
    const full = join(root, p);
    if (existsSync(full)) return full;
  }
  throw new Error(
    'sauron: the libtorch addon is not built. Run `npm ci` (or `npm run build`) in ' +
      root +
      '; it needs libtorch: `apt-get install libtorch-dev`, or set LIBTORCH to a libtorch folder.',
  );
}

const require = createRequire(import.meta.url);
export const native: NativeAddon = require(findAddon());

function defaultThreads(): number {
  const env = process.env.SAURON_NUM_THREADS ?? process.env.OMP_NUM_THREADS;
  const n = env ? Number.parseInt(env, 10) : NaN;
  return Number.isFinite(n) && n > 0 ? n : availableParallelism();
}

// libtorch starts with one thread here; one per core is faster (BENCHMARKS.md, "Threads: libtorch's
// default against one per core").
native.setNumThreads(defaultThreads());

// TF32 tensor cores for CUDA matmuls and convolutions: PyTorch's defaults (matmul off, cuDNN
// on) unless SAURON_TF32=0 turns both off (exact float32, as tests against fixtures need)
// or SAURON_TF32=1 turns both on.
if (process.env.SAURON_TF32 === '0') native.setAllowTF32(false, false);
else if (process.env.SAURON_TF32 === '1') native.setAllowTF32(true, true);
// SAURON_DETERMINISTIC=1: deterministic GPU kernels for code that does not choose (tests).
if (process.env.SAURON_DETERMINISTIC === '1') {
  process.env.CUBLAS_WORKSPACE_CONFIG ??= ':4096:8';
  native.setDeterministic(true);
}
