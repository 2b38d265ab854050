// The model zoo: one constructor for every architecture by name.
import type { InitOptions } from '../nn/layers.js';
import { state as deviceState, withDefaultDevice, type Device } from '../tensor/deviceState.js';
import type { ImageClassifier, ModelConfig } from './classifier.js';
import { ResNet, RESNET_ARCHS } from './resnet.js';
import { SmallCNN } from './smallcnn.js';
import { VGG, VGG_CONFIGS } from './vgg.js';

/**
 * Every architecture {@link createModel} builds by name (vgg11/13/16/19, resnet18/34/50 and their -imagenet stems, small-cnn).
 */
export const ARCHITECTURES: readonly string[] = [...Object.keys(VGG_CONFIGS), ...RESNET_ARCHS, 'small-cnn'];

export interface ModelOptions extends InitOptions {
  /** Where the model lives; default the default device ('cpu' unless set). */
  device?: Device;
}

/**
 * Builds an architecture by name. Weights are drawn on the CPU from the generator, then
 * moved, so a seed gives the same initial model on every device.
 *
 * @example
 * ```ts
 * const model = createModel({ arch: 'vgg19', inputShape: [3, 32, 32], numClasses: 10 }, { generator: new Generator(0) });
 * model.featureDim; // 512: the width of `features` and of classifier.weight [10, 512]
 * ```
 */
export function createModel(config: ModelConfig, init: ModelOptions = {}): ImageClassifier {
  const device = init.device ?? deviceState.defaultDevice;
  const model = withDefaultDevice('cpu', () => build(config, init));
  return device === 'cpu' ? model : model.to(device);
}

function build(config: ModelConfig, init: InitOptions): ImageClassifier {
  const arch = config.arch;
  if (arch in VGG_CONFIGS) return new VGG(config, init);
  if (RESNET_ARCHS.includes(arch)) {
    if (config.batchNorm === false) throw new Error(`${arch}: ResNets are built with batch norm only (small-cnn and VGG can do without)`);
    return new ResNet(config, init);
  }
  if (arch === 'small-cnn') return new SmallCNN(config, init);
  throw new Error(`unknown architecture '${arch}' (available: ${ARCHITECTURES.join(', ')})`);
}
