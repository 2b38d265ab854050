// Tensors: the typed facade over libtorch's at::Tensor (every method one ATen operator),
// creation, autograd, scopes that free native memory, seeded generators and seed streams,
// devices (CUDA, autocast, determinism), c10d collectives, TorchScript/pickle handles,
// process-wide settings, and the addon's own max pooling (pool.ts).
// The bottom layer: it alone (with src/optim) loads the addon (src/native.ts) and imports
// nothing else from src/ but progress.ts.
/**
 * `sauron/tensor`: the engine under everything, a typed facade over libtorch's tensors. {@link Tensor}
 * (every method one ATen operator, PyTorch's names in camelCase), creation ({@link tensor},
 * {@link zeros}, {@link rand}, ...), autograd ({@link grad}, {@link noGrad}), memory
 * ({@link scope}: what a function creates is freed when it returns, except what it returns),
 * seeded generators, devices (CUDA, autocast, determinism), threads, and c10d collectives for
 * several processes.
 *
 * @example
 * ```ts
 * import { tensor, randn, scope, Generator } from 'sauron/tensor';
 * const g = new Generator(0);
 * const w = randn([3, 2], { generator: g }).requiresGrad_();
 * const loss = scope(() => tensor([[1, 2, 3]]).matmul(w).square().sum());
 * loss.backward();          // w.grad: [3, 2]
 * ```
 * @module sauron/tensor
 */
export * from './dtype.js';
export { Tensor, cat, stack, where, type Scalar, type TensorOrScalar, type Dims, type MemoryFormat } from './tensor.js';
export * from './creation.js';
export * from './autograd.js';
export { Generator, manualSeed, derivedGenerator } from './random.js';
export { scope } from './scope.js';
export { windows, putWindows_ } from './window.js';
export { op } from './op.js';
export * from './runtime.js';
export * from './device.js';
export type { CreationOptions } from './creation.js';
export {
  initProcessGroup,
  destroyProcessGroup,
  isInitialized,
  hasGloo,
  getRank,
  getWorldSize,
  allReduce,
  broadcast,
  allGather,
  barrier,
  syncBatchNorm,
  type ProcessGroupOptions,
  type ReduceOp,
} from './distributed.js';
export {
  broadcastBytes,
  broadcastJson,
  fromRoot,
  leadAnnouncing,
  awaitAnnouncement,
  sumAcrossRanks,
  allGatherRows,
  allGatherJson,
  gatherCounts,
} from './collectives.js';
