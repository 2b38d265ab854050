export * from './dtype.js';
export { Tensor, cat, stack, where, type TensorOrScalar, type Dims } from './tensor.js';
export * from './creation.js';
export * from './autograd.js';
export { Generator, manualSeed } from './random.js';
export { scope } from './scope.js';
export { op } from './op.js';
export * from './runtime.js';
