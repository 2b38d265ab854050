// File formats, nothing more: safetensors, .npy (whole and streamed), atomic writes. What a
// model's run folder holds lives in src/models. Imports only src/tensor.
export * from './safetensors.js';
export { writeFileAtomic } from './atomic.js';
export * from './npy.js';
export { NpyWriter } from './npyStream.js';
