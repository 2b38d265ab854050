// The JSON the explorer's API answers with. The pages read these shapes; the library's own
// types (manifests, summaries, attack records) are passed through unchanged.
import type { ModelManifest } from '../models/runFolder.js';
import type { NeuronSummary } from '../analysis/sensitivity.js';
import type { NeuronRecord, SampleRecord } from '../attacks/attackTypes.js';
import type { Norm } from '../attacks/budget.js';

export interface AttackFolderInfo {
  id: string;
  attack: 'pgd' | 'kns' | string;
  norm: string;
  eps: number;
  successRate: number;
  count: number;
}

export interface ModelInfo {
  id: string;
  arch: string;
  dataset: string | null;
  featureDim: number;
  classNames: string[];
  /** Accuracy recorded in the run folder (training's final test accuracy), when there is one. */
  accuracy: number | null;
  /** Where the inputs' Deltas come from: a sensitivity folder, or computed at first use. */
  sensitivity: 'folder' | 'computed';
  attacks: AttackFolderInfo[];
  manifest: Partial<ModelManifest>;
}

export interface ReproduceInfo {
  id: string;
  /** Table 1 as in table1.csv: the header, then one row per model. */
  table1: string[][] | null;
  /** Figures by name (figure1, sweep-l2, ...), as served files. */
  figures: { name: string; svg: string }[];
  /** The report's figures as Vega-Lite specs (the report's own functions), rendered by the page; null with the error when files are missing. */
  charts: { name: string; spec: unknown; error?: string }[];
}

export interface Catalog {
  models: ModelInfo[];
  reproduce: ReproduceInfo[];
}

export interface InputSummary {
  index: number;
  label: number;
  prediction: number;
  correct: boolean;
  fooledPgd: boolean | null;
  fooledKns: boolean | null;
}

export interface InputPage {
  total: number;
  offset: number;
  items: InputSummary[];
}

export interface RankedNeuron {
  neuron: number;
  rank: number;
  delta: number | null;
  scaled: number | null;
  activation: number;
}

export interface InputDetail extends InputSummary {
  /** Position in the data set the model was analysed on. */
  datasetIndex: number;
  probabilities: number[];
  neurons: RankedNeuron[];
}

export interface Histogram { edges: number[]; counts: number[] }

export interface Distribution {
  /** Finite scaled Deltas between the 0.5% and 99.5% quantiles. */
  histogram: Histogram;
  /** (neuron, input) pairs looked at (a strided sample on large folders), and how many had no single-neuron flip. */
  sampled: number;
  infinite: number;
  /** Pairs of neurons that never vary on these inputs (std 0: no scaled value). */
  constant: number;
  range: [number, number];
}

export interface NeuronDetail {
  neuron: number;
  summary: NeuronSummary | null;
  deltaHistogram: Histogram;
  /** Inputs with no single-neuron flip through this neuron (Delta = +inf). */
  infiniteDeltas: number;
  activationHistogram: Histogram;
  topInputs: { index: number; activation: number; label: number; prediction: number }[];
  weights: number[];
  topKCount: number;
  topK: number;
  accuracy: number;
  prunedAccuracy: number;
}

export interface AttackRequest {
  model: string;
  input: number;
  attack: 'kns' | 'pgd';
  /** The neuron the single-neuron attack targets (kns only). */
  neuron?: number;
  norm: Norm;
  eps: number;
  iterations: number;
}

export interface AttackOutcome {
  record: SampleRecord | NeuronRecord;
  probabilities: number[];
  /** The target neuron's activation before and after (kns only). */
  activation?: { clean: number; adversarial: number; target: number | null };
}

export type JobState = 'queued' | 'running' | 'done' | 'cancelled' | 'failed';

export interface JobInfo {
  id: string;
  request: AttackRequest;
  state: JobState;
  /** 'queued', 'loading model', 'attacking', 'done'. */
  phase: string;
  /** Fraction of the attack's iterations run (counted as forward passes of the model). */
  progress: number;
  seconds: number;
  error?: string;
  outcome?: AttackOutcome;
}
