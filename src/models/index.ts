// Models: the one classifier interface (logits, penultimate features, the classifier layer),
// the zoo (VGG, ResNet, small CNN), users' TorchScript models, run folders (model.safetensors
// + model.json), checkpoint conversion and TorchScript export. Imports src/data (for the
// Normalization type), src/nn, src/serialization and src/tensor.
export * from './classifier.js';
export { VGG, VGG_CONFIGS } from './vgg.js';
export { ResNet, RESNET_ARCHS } from './resnet.js';
export { SmallCNN } from './smallcnn.js';
export { createModel, ARCHITECTURES } from './zoo.js';
export { TorchScriptClassifier, type TorchScriptOptions } from './torchscript.js';
export { loadAnyModel, isRunFolder, type AnyModelOptions } from './load.js';
export * from './runFolder.js';
export { convertCheckpoint, readTorchFile, mapKeys, type ConvertOptions } from './convert.js';
export { exportTorchScript } from './export.js';
