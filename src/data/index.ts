// Data sets (the embedded Fashion-MNIST, CIFAR-10, image folders), subsets, seeded loaders
// that read and augment on the host and deliver batches on any device. Imports src/tensor,
// src/nn (functional ops for augmentation) and src/serialization.
export * from './dataset.js';
export { loadFashionMnist, FASHION_MNIST_CLASSES, EMBEDDED_FASHION_MNIST } from './fashionMnist.js';
export { loadCifar10 } from './cifar10.js';
export { loadImageFolder } from './imageFolder.js';
export { readIdx } from './idx.js';
export { augmentBatch, type AugmentOptions } from './augment.js';
export { batches, batchCount, epochOrder, toDevice, type LoaderOptions } from './loader.js';
export { openDataset, subset, parseIndices, DATASETS, type OpenOptions } from './registry.js';
