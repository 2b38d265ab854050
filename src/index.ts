// Sauron's public root, `import { ... } from 'sauron'`: what a user calls to analyse, attack, train
// and prune an image classifier, reproduce the paper and explore the results, plus the few tensor
// basics the results come in (Tensor, scope, noGrad, Generator). It re-exports chosen names from
// every layer below it and imports nothing else. The engine underneath is published by layer as
// subpath exports, each with one entry file (package.json "exports"): `sauron/tensor`
// (src/tensor/index.ts), `sauron/nn`, `sauron/optim` and `sauron/serialization`. What no entry
// exports (the benchmarks, the explorer's server, the CLI's commands, the runners' internals) is
// internal and may change without notice.

/**
 * Sauron: find the feature neurons an image classifier depends on most, attack through them, and
 * train models that do not depend on any one neuron ("One Neuron to Fool Them All"), on libtorch.
 *
 * This root holds the functions a user calls: models, data sets, sensitivity analysis, attacks,
 * training, pruning, the paper's reproduction and the explorer. The engine is published by layer:
 * `sauron/tensor`, `sauron/nn`, `sauron/optim` and `sauron/serialization`.
 *
 * Every function that returns tensors allocates native (libtorch) memory: wrap the work in
 * {@link scope}, which frees every tensor created inside except what it returns, or free one
 * tensor with `t.dispose()`.
 *
 * @example
 * ```ts
 * import { loadModel, openDataset, sensitivity } from 'sauron';
 *
 * const { model } = loadModel('runs/fm-standard');        // a run folder `sauron train` wrote
 * const test = await openDataset('fashion-mnist', 'test', { limit: 1000 });
 * const r = await sensitivity(model, test, { statsSets: [test] });
 * console.log(r.mostSensitive.slice(0, 10));                // the ten most sensitive neurons
 * ```
 * @packageDocumentation
 * @module sauron
 */

// Tensors as results come in, and their memory.
export { Tensor } from './tensor/tensor.js';
export { scope } from './tensor/scope.js';
export { noGrad } from './tensor/autograd.js';
export { Generator, manualSeed } from './tensor/random.js';
export { resolveDevice, type Device, type Precision } from './tensor/device.js';
export type { Progress } from './progress.js';

// Data sets and loaders.
export { type Split, type Normalization, type Batch, type ImageDataset, InMemoryDataset, SubsetDataset } from './data/dataset.js';
export { loadFashionMnist, FASHION_MNIST_CLASSES, EMBEDDED_FASHION_MNIST } from './data/fashionMnist.js';
export { loadCifar10, CIFAR10_CLASSES } from './data/cifar10.js';
export { loadImageFolder, ImageFolderDataset, type ImageFolderOptions } from './data/imageFolder.js';
export { readClassList, type ClassList } from './data/classList.js';
export { batches, batchCount, toDevice, type LoaderOptions } from './data/loader.js';
export type { AugmentOptions } from './data/augment.js';
export { openDataset, subset, parseIndices, DATASETS, type DatasetName, type OpenOptions } from './data/registry.js';

// Models: the zoo, run folders, TorchScript, checkpoints.
export {
  ImageClassifier,
  type ModelConfig,
  type ModelOutput,
  type ForwardOptions,
  type ClassifierLayer,
  type LayerSplit,
} from './models/classifier.js';
export { createModel, ARCHITECTURES, type ModelOptions } from './models/zoo.js';
export { saveModel, loadModel, readManifest, type ModelManifest, MANIFEST_FILE, WEIGHTS_FILE } from './models/runFolder.js';
export { loadAnyModel, isRunFolder, type AnyModelOptions } from './models/load.js';
export { TorchScriptClassifier, type TorchScriptOptions } from './models/torchscript.js';
export { convertCheckpoint, type ConvertOptions } from './models/convert.js';
export { exportTorchScript } from './models/export.js';

// Sensitivity analysis (the paper's section 2) and pruning.
export { delta, type DeltaOptions } from './analysis/delta.js';
export { innerDelta, type InnerDeltaOptions } from './analysis/innerDelta.js';
export { featureStats, FeatureStatsAccumulator, type FeatureStats } from './analysis/featureStats.js';
export { scaleDeltas, rankNeurons } from './analysis/scaled.js';
export { sensitivity, type SensitivityOptions, type SensitivityResult } from './analysis/sensitivity.js';
export type { NeuronSummary } from './analysis/neuronSummaries.js';
export { readSensitivitySummary, readFeatureStats, type SensitivitySummary } from './analysis/sensitivityFiles.js';
export { pruneFeatures, pruneOrder, PRUNE_ORDERS, type PruneOrder } from './analysis/prune.js';
export { pruningCurve, type PruningRow, type PruningCurveOptions } from './experiments/pruningCurve.js';

// Attacks: PGD, k-NS (the single-neuron attack), AutoAttack and its components.
export { NORMS, type Norm } from './attacks/threat.js';
export type { BudgetConfig, SampleRecord, NeuronRecord, AttackBatch, AttackOutput } from './attacks/attackTypes.js';
export { pgdAttack, type PgdConfig } from './attacks/pgd.js';
export { knsAttack, knsSuccessRates, type KnsConfig } from './attacks/kns.js';
export { robustAccuracy, type Robustness, type RobustnessOptions } from './attacks/robustAccuracy.js';
export {
  autoAttack,
  robustAccuracyByAttack,
  type AutoAttackConfig,
  type AutoAttackRecord,
  type AutoAttackOutput,
} from './attacks/autoattack.js';
export {
  autoAttackPlan,
  ROBUST_ATTACKS,
  AUTOATTACK_VERSIONS,
  type AutoAttackVersion,
  type PlannedAttack,
} from './attacks/autoattackVersions.js';
export type { RobustAttackName, RobustAttackConfig, RobustRecord } from './attacks/robustAttackTypes.js';
export type { RobustComponent } from './attacks/autoattackComponents.js';
export { apgdAttack, APGD_DEFAULTS, type ApgdConfig } from './attacks/apgd.js';
export { fabAttack, FAB_DEFAULTS, type FabConfig } from './attacks/fab.js';
export { squareAttack, SQUARE_DEFAULTS, type SquareConfig, type SquareOutput } from './attacks/square.js';
export { runAttack, type AttackSpec, type AttackRunOptions } from './experiments/attackRun.js';
export {
  readAttackResults,
  type AttackResults,
  type AttackSummary,
  type RankRate,
  type TargetSplit,
  type TargetCount,
} from './experiments/attackResults.js';
export type { TransferSummary } from './experiments/transferEvaluation.js';
export {
  runAutoAttack,
  autoAttackChecks,
  type AutoAttackSpec,
  type AutoAttackSummary,
  type AutoAttackResults,
  type AutoAttackRunOptions,
} from './experiments/autoAttackRun.js';
export { modelChecks, type CheckResult, type CheckId, type ModelCheckOptions } from './attacks/robustnessChecks.js';
export type { RunResults } from './experiments/attackRunner.js';
export { wilson } from './reports/intervals.js';

// Training: standard, adversarial and with the sensitivity regularizer.
export { train, type TrainOptions, type TrainResult, type TrainProgress } from './training/train.js';
export {
  DEFAULTS,
  SCHEDULES,
  METHODS,
  KEEPS,
  type KeepName,
  type TrainConfig,
  type TrainDefaults,
  type ScheduleName,
  type MethodName,
  type AdversarialSettings,
  type RegularizerSettings,
  type ValidationAttack,
} from './training/config.js';
export { sensitivityRegularizer, type RegularizerOptions, type RegularizerTerms } from './training/sensitivityRegularizer.js';
export { evaluate, type Evaluation, type ClassAccuracy } from './training/evaluate.js';
export { predict } from './training/evaluateInputs.js';
export { readMetrics, type EpochMetrics } from './training/metrics.js';

// The paper's pipeline, Table 1 and the findings.
export { reproduce, type ReproduceOptions } from './reproduce/pipeline.js';
export { reproduceSettings, MODEL_KINDS, PAPER_TABLE1, type ReproduceSettings, type ModelKind } from './reproduce/settings.js';
export { readRows, type ModelRow, type NormRow, type AutoAttackRun } from './reproduce/reportReaders.js';
export { table1 } from './reproduce/reportTables.js';
export { findings, type Finding, type Verdict } from './reproduce/findings.js';
export type { StepTiming } from './experiments/steps.js';

// The explorer.
export { startExplorer, type StartOptions, type RunningExplorer } from './explore/server.js';
export type { ExplorerOptions } from './explore/explorer.js';
