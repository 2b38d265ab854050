// Training: standard, PGD adversarial training and the sensitivity regularizer, evaluation,
// checkpoints with exact resume, run-folder metrics. Imports src/attacks (PGD examples and the
// validation attack) and below.
export { train, makeSchedule, type TrainOptions, type TrainResult, type TrainProgress } from './train.js';
export { DEFAULTS, SCHEDULES, type TrainConfig } from './config.js';
export { evaluate, type Evaluation, type ClassAccuracy } from './evaluate.js';
export { predict } from './evaluateInputs.js';
export { saveCheckpoint, loadCheckpoint, findCheckpoint } from './checkpoint.js';
export { readMetrics, type EpochMetrics } from './runDir.js';
export * from './sensitivityRegularizer.js';
export { trainStep, trainEpoch, adversarialBatch, type StepContext, type EpochTotals } from './trainStep.js';
export { broadcastParameters, broadcastBuffers, allReduceGradients } from './dataParallel.js';
