// The model zoo: one constructor for every architecture by name.
import type { InitOptions } from '../nn/layers.js';
import { ImageClassifier, type ModelConfig } from './classifier.js';
import { ResNet, RESNET_ARCHS } from './resnet.js';
import { SmallCNN } from './smallcnn.js';
import { VGG, VGG_CONFIGS } from './vgg.js';

export const ARCHITECTURES: readonly string[] = [...Object.keys(VGG_CONFIGS), ...RESNET_ARCHS, 'small-cnn'];

export function createModel(config: ModelConfig, init: InitOptions = {}): ImageClassifier {
  const arch = config.arch;
  if (arch in VGG_CONFIGS) return new VGG(config, init);
  if (RESNET_ARCHS.includes(arch)) return new ResNet(config, init);
  if (arch === 'small-cnn') return new SmallCNN(config, init);
  throw new Error(`unknown architecture '${arch}' (available: ${ARCHITECTURES.join(', ')})`);
}
