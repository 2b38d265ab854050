// samples.csv of a PGD or k-NS attack: one line per record (an input's restart, or a neuron
// attack); booleans are written 1 / 0. k-NS rows add the attacked neuron's columns.
import type { NeuronRecord, SampleRecord } from '../attacks/attackTypes.js';
import type { Column } from './attackKind.js';

export const SAMPLE_COLUMNS: Column<SampleRecord>[] = [
  ['index', (r) => r.index],
  ['label', (r) => r.label],
  ['clean_prediction', (r) => r.cleanPrediction],
  ['adversarial_prediction', (r) => r.adversarialPrediction],
  ['success', (r) => (r.success ? 1 : 0)],
  ['l2', (r) => r.l2],
  ['linf', (r) => r.linf],
  ['restart', (r) => r.restart],
  ['iteration', (r) => r.iteration],
];

export const NEURON_COLUMNS: Column<NeuronRecord>[] = [
  ['neuron', (r) => r.neuron],
  ['rank', (r) => r.rank],
  ['delta', (r) => r.delta],
  ['delta_achieved', (r) => (r.deltaAchieved ? 1 : 0)],
  ['active', (r) => (r.active ? 1 : 0)],
];

/** The columns for these records: k-NS's when they carry a neuron rank. */
export function sampleColumns(records: SampleRecord[]): Column<SampleRecord>[] {
  const neuron = records.length > 0 && 'rank' in records[0]!;
  return [...SAMPLE_COLUMNS, ...(neuron ? (NEURON_COLUMNS as Column<SampleRecord>[]) : [])];
}
