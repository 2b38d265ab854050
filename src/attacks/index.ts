// Attacks as computations, with no file I/O: threat models per norm and budgets, the one
// projected-gradient iteration with its two schedulers (a fixed number of iterations, early
// stopping), the objectives, PGD with restarts and k-NS (the neuron sensitivity attack) as configs of
// that loop, one record builder, the robustness rates both training and pruning read, and the
// attacks' defaults. Each attack takes a config and returns one record per attacked row.
// Imports src/analysis (Delta, rankings) and below.
export * from './budget.js';
export * from './attackTypes.js';
export type { Evaluated, StepRule, StepInput, Rows } from './loop.js';
export { pgdLoop, type PgdLoopOptions, type PgdLoopResult } from './pgdLoop.js';
export { fixedStep, apgdStep, apgdCheckpoints, type ApgdStepOptions } from './stepRules.js';
export { crossEntropyObjective, inversionLoss, SUCCESS_BONUS, dlrLoss, dlrTargetedLoss, apgdObjective } from './losses.js';
export { pgdAttack, defaultEarlyStop, type PgdConfig } from './pgd.js';
export { apgdAttack, apgdStart, apgdTargets, checkApgdConfig, APGD_DEFAULTS, type ApgdConfig } from './apgd.js';
export { knsAttack, knsSuccessRates, type KnsConfig } from './kns.js';
export * from './defaults.js';
export { robustAccuracy, type Robustness, type RobustnessOptions } from './robustAccuracy.js';
export { fabAttack, checkFabConfig, FAB_DEFAULTS, type FabConfig } from './fab.js';
export { squareAttack, checkSquareConfig, defaultSquareRowBatch, SQUARE_DEFAULTS, type SquareConfig, type SquareOutput } from './square.js';
