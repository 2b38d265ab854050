export { delta, type DeltaOptions } from './delta.js';
export { featureStats, FeatureStatsAccumulator, type FeatureStats } from './featureStats.js';
export { scaleDeltas, rankNeurons } from './scaled.js';
export { sensitivity, type SensitivityOptions, type SensitivityResult, type NeuronSummary } from './sensitivity.js';
export { sensitivityFigures, scaledActivations } from './figures.js';
export * from './prune.js';
export * from './pruneCurve.js';
export { innerDelta, type InnerDeltaOptions } from './innerDelta.js';
