// `sauron reproduce`: the paper's pipeline as cached, resumable steps (train, sensitivity,
// attacks, pruning), the folder's layout, Table 1, the findings check and the report. Imports
// src/experiments and every layer below; only src/cli imports it.
export { reproduce, trainConfig, type ReproduceOptions, type StepTiming } from './pipeline.js';
export { reproduceSettings, MODEL_KINDS, PAPER_TABLE1, type ReproduceSettings, type ModelKind } from './settings.js';
export { readRows, type ModelRow } from './reportReaders.js';
export { table1 } from './reportTables.js';
export { findings, type Finding } from './findings.js';
