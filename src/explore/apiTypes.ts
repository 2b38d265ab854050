// The JSON the explorer's API answers with. The pages read these shapes; the library's own
// types (manifests, summaries, attack records) are passed through unchanged.
import type { ModelManifest } from '../models/runFolder.js';
import type { NeuronSummary } from '../analysis/neuronSummaries.js';
import type { NeuronRecord, SampleRecord } from '../attacks/attackTypes.js';
import type { Norm } from '../attacks/budget.js';

export interface AttackFolderInfo {
  id: string;
  /** The folder's attack as its results.json names it ('autoattack', or one of its attacks run alone, e.g. 'apgd-ce'). */
  attack: 'pgd' | 'kns' | 'autoattack' | string;
  /** 'pgd', 'kns', or 'autoattack' for any AutoAttack folder (whole cascade or one attack alone). */
  family: string;
  norm: string;
  eps: number;
  /** Inputs the attack fooled, over those it attacked (AutoAttack: over all inputs, misclassified ones not attacked). */
  successRate: number;
  count: number;
  /** AutoAttack folders: the version and the robust accuracy (classified correctly and fooled by no attack, over all inputs). */
  version?: string;
  robustAccuracy?: number;
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
  /** Whether any AutoAttack folder's cascade fooled it (null: no AutoAttack folder covers it). */
  fooledAutoAttack: boolean | null;
}

/** An input in one AutoAttack folder: which attack of the cascade fooled it first. */
export interface AutoAttackOutcome {
  /** The attack folder (AttackFolderInfo.id), its attack, version, norm and budget. */
  folder: string;
  attack: string;
  version: string;
  norm: string;
  eps: number;
  /** The first attack that fooled it, as the reference names it ('apgd-t'); null when none did or it was misclassified clean. */
  fooledBy: string | null;
  /** 'fooled' (by fooledBy), 'robust' (classified correctly, no attack fooled it), or 'misclassified' (wrong clean, so not attacked). */
  outcome: 'fooled' | 'robust' | 'misclassified';
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
  /** One entry per AutoAttack folder of the model that attacked this input. */
  autoAttack: AutoAttackOutcome[];
}

export interface Histogram {
  edges: number[];
  counts: number[];
}

export interface Distribution {
  /** Finite scaled Deltas between the 0.5% and 99.5% quantiles. */
  histogram: Histogram;
  /**
   * (neuron, input) pairs looked at (a strided sample on large folders), and how many had an infinite Delta
   * (no change of the neuron alone flips the prediction).
   */
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
  /** Inputs whose prediction no change of this neuron alone flips (Delta = +inf). */
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
  /** The neuron to attack (kns only: one neuron attack). */
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
