export * from './budget.js';
export * from './types.js';
export { pgdLoop, type PgdLoopOptions, type PgdLoopResult, type Evaluated } from './pgdCore.js';
export { pgdAttack, type PgdConfig, type AttackBatch, type AttackOutput } from './pgd.js';
export { knsAttack, nNeuronRates, type KnsConfig } from './kns.js';
export { runAttack, type AttackSpec, type AttackRunOptions } from './run.js';
