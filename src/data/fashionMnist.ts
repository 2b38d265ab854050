// Fashion-MNIST, the embedded default data set (data/fashion-mnist, MIT, Zalando SE).
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InMemoryDataset, type Split } from './dataset.js';
import { readIdx } from './idx.js';

/** Fashion-MNIST's ten class names, in label order. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
// Mean and std of the training images' pixels in [0, 1].
export const FASHION_MNIST_NORMALIZATION = { mean: [0.286], std: [0.353] };

/** The copy shipped inside this package. */
export const EMBEDDED_FASHION_MNIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'fashion-mnist');

/**
 * Fashion-MNIST's train or test split (60,000 / 10,000 grey 28x28 images) from its IDX files;
 * by default the copy shipped in the package.
 *
 * @example
 * ```ts
 * const test = loadFashionMnist('test');
 * const { images, labels } = test.loadSync([0, 1, 2, 3]); // [4, 1, 28, 28] in [0, 1], [4] int64
 * ```
 */
export function loadFashionMnist(split: Split, dir = EMBEDDED_FASHION_MNIST): InMemoryDataset {
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgs = readIdx(join(dir, `${prefix}-images-idx3-ubyte.gz`), 0x803);
  const labs = readIdx(join(dir, `${prefix}-labels-idx1-ubyte.gz`), 0x801);
  if (imgs.dims.length !== 3) throw new Error(`fashion-mnist: ${prefix} images have ${imgs.dims.length} dimensions, expected 3`);
  if (imgs.dims[0] !== labs.dims[0]) throw new Error(`fashion-mnist: ${imgs.dims[0]} ${split} images but ${labs.dims[0]} labels`);
  return new InMemoryDataset(
    'fashion-mnist',
    split,
    [1, imgs.dims[1]!, imgs.dims[2]!],
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_NORMALIZATION,
    imgs.data,
    labs.data,
  );
}
