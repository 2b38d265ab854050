export * from './classifier.js';
export { VGG, VGG_CONFIGS } from './vgg.js';
export { ResNet, RESNET_ARCHS } from './resnet.js';
export { SmallCNN } from './smallcnn.js';
export { createModel, ARCHITECTURES } from './zoo.js';
export { TorchScriptClassifier, type TorchScriptOptions } from './torchscript.js';
export { loadAnyModel, isRunFolder, type AnyModelOptions } from './load.js';
