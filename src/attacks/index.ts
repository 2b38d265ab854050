// Attacks as computations, with no file I/O: budgets and projections, the shared PGD loop,
// PGD with restarts, the n-neuron sensitivity attack, the robustness rates both training and
// pruning read, and the attacks' defaults. Each takes a config and returns one record per
// attacked row. Imports src/analysis (Delta, rankings) and below.
export * from './budget.js';
export * from './types.js';
export { pgdLoop, type PgdLoopOptions, type PgdLoopResult, type Evaluated } from './pgdCore.js';
export { pgdAttack, defaultEarlyStop, type PgdConfig, type AttackBatch, type AttackOutput } from './pgd.js';
export { knsAttack, nNeuronRates, type KnsConfig } from './kns.js';
export * from './defaults.js';
export { robustAccuracy, type Robustness, type RobustnessOptions } from './robustAccuracy.js';
