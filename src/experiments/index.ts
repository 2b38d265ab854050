// Experiments: the runners a command or `reproduce` step calls. They read data sets, run
// attacks and analyses batch by batch, write result files (CSV, JSON, .npy, figures), report
// progress and resume interrupted runs; and the local launcher of several processes. An
// attack runs as a kind (attackKind.ts) of one runner (attackRunner.ts), which owns the folder,
// resuming and the ranks. They may import every layer below (tensor, nn, optim,
// serialization, reports, data, models, analysis, attacks, training); only reproduce/ and
// cli/ import them. engineBenchmark.ts times the engine for `sauron bench`.
export { runAttack, attackKind, type AttackSpec, type AttackRunOptions } from './attackRun.js';
export { runAttackKind, type AttackRunnerOptions, type RunResults } from './attackRunner.js';
export { samplesCsv, type AttackKind, type AttackRow, type Column } from './attackKind.js';
export {
  readAttackResults,
  summarizeAttack,
  targetSplit,
  type AttackResults,
  type AttackSummary,
  type RankRate,
  type TargetSplit,
} from './attackResults.js';
export * from './pruningCurve.js';
export { runSteps, stepDone, type Step, type StepTiming, type RunStepsOptions } from './steps.js';
export { launchProcesses, type LaunchOptions, type LaunchResult } from './launchProcesses.js';
export { benchEngine, type EngineBenchOptions, type EngineBenchResult } from './engineBenchmark.js';
