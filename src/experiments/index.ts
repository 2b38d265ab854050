// Experiments: the runners a command or `reproduce` step calls. They read data sets, run
// attacks and analyses batch by batch, write result files (CSV, JSON, .npy, figures), report
// progress and resume interrupted runs; and the local launcher of several processes. They may import every layer below (tensor, nn, optim,
// serialization, reports, data, models, analysis, attacks, training); only reproduce/ and
// cli/ import them.
export { runAttack, type AttackSpec, type AttackRunOptions } from './attackRun.js';
export * from './pruningCurve.js';
export { runSteps, stepDone, type Step, type StepTiming, type RunStepsOptions } from './steps.js';
export { launchProcesses, type LaunchOptions, type LaunchResult } from './launch.js';
