// The CIFAR-shaped VGG-19 the benchmarks attack: seeded weights, with batch-norm running
// statistics measured on synthetic images (train-mode forwards without gradients). At
// initialisation (mean 0, variance 1) the network's logits barely depend on the input, so PGD
// cannot move them; with measured statistics they do.
import { createModel, Generator, noGrad, scope, type ImageClassifier } from '../../src/index.js';
import { getDefaultDevice, rand } from '../../src/tensor/index.js';

/** Seeded VGG-19 (3x32x32, 10 classes) on the default device, calibrated, in eval mode. */
export function calibratedVgg(): ImageClassifier {
  const model = createModel({ arch: 'vgg19', inputShape: [3, 32, 32], numClasses: 10 }, { generator: new Generator(0) });
  const g = new Generator(1);
  model.train();
  // a CPU generator draws on the CPU: the same images, and statistics, on every device
  for (let i = 0; i < 30; i++)
    scope(() =>
      noGrad(() => {
        model.forward(rand([64, 3, 32, 32], { generator: g }).to(getDefaultDevice()));
      }),
    );
  return model.eval();
}
