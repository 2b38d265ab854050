// Attacks as computations, with no file I/O: threat models per norm and budgets, the one
// projected-gradient iteration with its two schedulers (a fixed number of iterations, early
// stopping), the objectives, PGD with restarts and the n-neuron sensitivity attack as configs of
// that loop, one record builder, the robustness rates both training and pruning read, and the
// attacks' defaults. Each attack takes a config and returns one record per attacked row.
// Imports src/analysis (Delta, rankings) and below.
export * from './budget.js';
export * from './attackTypes.js';
export type { Evaluated, StepRule, StepInput, Rows } from './loop.js';
export { pgdLoop, type PgdLoopOptions, type PgdLoopResult } from './pgdLoop.js';
export { fixedStep } from './stepRules.js';
export { crossEntropyObjective, inversionLoss, SUCCESS_BONUS } from './losses.js';
export { pgdAttack, defaultEarlyStop, type PgdConfig } from './pgd.js';
export { knsAttack, nNeuronRates, type KnsConfig } from './kns.js';
export * from './defaults.js';
export { robustAccuracy, type Robustness, type RobustnessOptions } from './robustAccuracy.js';
