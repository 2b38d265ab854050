// File formats and how files are written: safetensors, .npy (whole and streamed), torch.save
// checkpoints (zip, allowlist pickle), atomic writes, output folders (locks, staged writes,
// manifests). What a model's run folder holds lives in src/models. Imports only src/tensor.
/**
 * `sauron/serialization`: the file formats Sauron reads and writes, each checked field by field
 * with one-line errors: safetensors, NumPy .npy (whole and streamed), torch.save checkpoints
 * (read without running their pickle code), atomic writes, and output folders (locks,
 * staged writes, a manifest of every file with its SHA-256).
 *
 * @example
 * ```ts
 * import { loadSafetensors, loadNpy } from 'sauron/serialization';
 * const { tensors } = loadSafetensors('runs/fm-standard/model.safetensors'); // PyTorch keys
 * const deltas = loadNpy('runs/fm-sens/deltas.npy');                        // [F, N] float32
 * ```
 * @module sauron/serialization
 */
export * from './safetensors.js';
export { writeFileAtomic } from './atomic.js';
export * from './npy.js';
export { NpyWriter } from './npyStream.js';
export {
  lockOutput,
  withOutputLock,
  writeOutput,
  readOutputManifest,
  verifyOutputFile,
  OUTPUT_MANIFEST,
  type OutputManifest,
  type OutputLock,
} from './outputDir.js';
export { readTorchCheckpoint, forEachTensor, TorchTensor } from './torchCheckpoint.js';
