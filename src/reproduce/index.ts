export { reproduce, trainConfig, type ReproduceOptions, type StepTiming } from './pipeline.js';
export { reproduceSettings, MODEL_KINDS, PAPER_TABLE1, type ReproduceSettings, type ModelKind } from './settings.js';
export { table1, readRows, type ModelRow } from './report.js';
export { findings, type Finding } from './findings.js';
