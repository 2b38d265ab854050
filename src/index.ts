// Sauron's typed API: tensors, nn, optimizers, the model zoo and serialization.
export * from './tensor/index.js';
export type { Progress } from './progress.js';
export * as nn from './nn/index.js';
export { Module, withEval, type StateDict } from './nn/module.js';
export * as F from './nn/functional.js';
export * as optim from './optim/index.js';
export * from './models/index.js';
export * from './serialization/index.js';
export * from './data/index.js';
export * from './training/index.js';
export * from './reports/index.js';
export * from './analysis/index.js';
export * from './attacks/index.js';
export * from './experiments/index.js';
export * from './reproduce/index.js';
export * from './explore/index.js';
