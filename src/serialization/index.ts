// File formats and how files are written: safetensors, .npy (whole and streamed), torch.save
// checkpoints (zip, allowlist pickle), atomic writes, output folders (locks, staged writes,
// manifests). What a model's run folder holds lives in src/models. Imports only src/tensor.
export * from './safetensors.js';
export { writeFileAtomic } from './atomic.js';
export * from './npy.js';
export { NpyWriter } from './npyStream.js';
export { lockOutput, withOutputLock, writeOutput, readOutputManifest, verifyOutputFile, OUTPUT_MANIFEST, type OutputManifest, type OutputLock } from './outputDir.js';
export { readTorchCheckpoint, forEachTensor, TorchTensor } from './torchCheckpoint.js';
