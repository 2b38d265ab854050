// Sensitivity analysis of the paper's section 2: Delta(i, x) in closed form and numerically for
// inner layers, feature statistics, scaled values and rankings, the sensitivity pipeline and
// its folder's files, pruning and the figures of section 2. No attacks, no training: imports
// src/models, src/data, src/reports, src/serialization and below.
export { delta, type DeltaOptions } from './delta.js';
export { featureStats, FeatureStatsAccumulator, type FeatureStats } from './featureStats.js';
export { scaleDeltas, rankNeurons } from './scaled.js';
export { sensitivity, type SensitivityOptions, type SensitivityResult } from './sensitivity.js';
export type { NeuronSummary } from './neuronSummaries.js';
export { sensitivityFigures, scaledActivations } from './sensitivityFigures.js';
export * from './prune.js';
export { innerDelta, type InnerDeltaOptions } from './innerDelta.js';
export * from './sensitivityFiles.js';
