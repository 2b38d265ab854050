// Tensors: the typed facade over libtorch's at::Tensor (every method one ATen operator),
// creation, autograd, scopes that free native memory, seeded generators and seed streams,
// devices (CUDA, autocast, determinism), c10d collectives, TorchScript/pickle handles,
// process-wide settings, and the addon's own max pooling (pool.ts).
// The bottom layer: it alone (with src/optim) loads the addon (src/native.ts) and imports
// nothing else from src/ but progress.ts.
export * from './dtype.js';
export { Tensor, cat, stack, where, type TensorOrScalar, type Dims, type MemoryFormat } from './tensor.js';
export * from './creation.js';
export * from './autograd.js';
export { Generator, manualSeed, derivedGenerator } from './random.js';
export { scope } from './scope.js';
export { op } from './op.js';
export * from './runtime.js';
export * from './device.js';
export type { CreationOptions } from './creation.js';
export { initProcessGroup, destroyProcessGroup, isInitialized, hasGloo, getRank, getWorldSize, allReduce, broadcast, allGather, barrier, syncBatchNorm, type ProcessGroupOptions, type ReduceOp } from './distributed.js';
export { broadcastBytes, broadcastJson, fromRoot, leadAnnouncing, awaitAnnouncement, sumAcrossRanks, allGatherRows, allGatherJson, gatherCounts } from './collectives.js';
