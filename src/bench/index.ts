// The engine benchmark behind `sauron bench` (a training step and an input-gradient step of a
// zoo model, timed on any device). Imports src/models, src/nn, src/optim and src/tensor.
export { benchEngine, type EngineBenchOptions, type EngineBenchResult } from './engineBench.js';
