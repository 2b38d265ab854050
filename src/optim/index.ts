// Optimizers (libtorch's SGD, Adam, AdamW, with a multi-tensor SGD step on GPUs), learning-rate
// schedules and fp16 loss scaling. Imports only src/tensor and the addon (native.ts) for
// libtorch's optimizer objects.
export * from './optimizer.js';
export * from './schedules.js';
export * from './gradScaler.js';
