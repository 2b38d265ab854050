// Neural-network building blocks: Module (parameters, buffers, PyTorch state-dict keys,
// train/eval, in-place device moves, withEval), the layers and the functional ops. Imports
// only src/tensor.
export { Module, withEval, type StateDict } from './module.js';
export * from './layers.js';
export * as F from './functional.js';
export * as init from './init.js';
