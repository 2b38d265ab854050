export * from './dataset.js';
export { loadFashionMnist, FASHION_MNIST_CLASSES, EMBEDDED_FASHION_MNIST } from './fashionMnist.js';
export { loadCifar10 } from './cifar10.js';
export { loadImageFolder } from './imageFolder.js';
export { readIdx } from './idx.js';
export { augmentBatch, type AugmentOptions } from './augment.js';
export { batches, batchCount, epochOrder, derivedGenerator, type LoaderOptions } from './loader.js';
export { openDataset, subset, parseIndices, DATASETS, type OpenOptions } from './registry.js';
