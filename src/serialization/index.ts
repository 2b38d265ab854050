export * from './safetensors.js';
export * from './modelFiles.js';
export { writeFileAtomic } from './atomic.js';
export * from './npy.js';
export { NpyWriter } from './npyStream.js';
export { convertCheckpoint, readTorchFile, mapKeys, type ConvertOptions } from './convert.js';
export { exportTorchScript } from './export.js';
