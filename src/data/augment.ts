// Training-time augmentations on image batches, drawn from a seeded generator: random crop
// with zero padding (per-sample offsets) and horizontal flip.
import { arange, randint, rand } from '../tensor/creation.js';
import type { Generator } from '../tensor/random.js';
import { scope } from '../tensor/scope.js';
import { type Tensor, where } from '../tensor/tensor.js';
import * as F from '../nn/functional.js';

/**
 * Training-time augmentation of in-memory batches: random crops of the zero-padded image and horizontal flips.
 */
export interface AugmentOptions {
  /** Zero padding for the random crop (0 = no crop). */
  cropPadding?: number;
  /** Flip horizontally with probability 0.5. */
  hflip?: boolean;
}

/**
 * A new augmented batch [B, C, H, W]; the input is left unchanged. `rows` places the batch
 * inside a larger one (a data-parallel rank's share): the draws are the whole batch's, and
 * this part takes its rows of them, so every rank augments as one process would.
 */
export function augmentBatch(images: Tensor, opts: AugmentOptions, generator: Generator, rows?: { offset: number; total: number }): Tensor {
  return scope(() => {
    const [b, , h, w] = images.shape as [number, number, number, number];
    const total = rows?.total ?? b;
    const offset = rows?.offset ?? 0;
    if (offset < 0 || offset + b > total)
      throw new RangeError(`augmentBatch: rows ${offset}..${offset + b} lie outside a batch of ${total}`);
    const mine = (t: Tensor) => (total === b ? t : t.narrow(0, offset, b));
    let x = images;
    const p = opts.cropPadding ?? 0;
    if (p > 0) {
      const padded = F.pad(x, [p, p, p, p]).permute([0, 2, 3, 1]); // [B, H+2p, W+2p, C]
      const dy = mine(randint(0, 2 * p + 1, [total, 1], { generator }));
      const dx = mine(randint(0, 2 * p + 1, [total, 1], { generator }));
      const on = { device: images.device };
      const rows = dy.add(arange(0, h, 1, on).unsqueeze(0)).unsqueeze(2); // [B, H, 1]
      const cols = dx.add(arange(0, w, 1, on).unsqueeze(0)).unsqueeze(1); // [B, 1, W]
      const bi = arange(0, b, 1, on).view([b, 1, 1]);
      x = padded.index([bi, rows, cols]).permute([0, 3, 1, 2]).contiguous(); // [B, C, H, W]
    }
    if (opts.hflip) {
      const flip = mine(rand([total], { generator }))
        .lt(0.5)
        .view([b, 1, 1, 1]);
      x = where(flip, x.flip([3]), x);
    }
    if (x === images) return images.clone();
    // With one channel, the permuted crop counts as contiguous while keeping NHWC strides, and
    // convolutions then pick the channels-last kernels (and batch norm a float32-accumulating
    // path, 5e-4 off on Fashion-MNIST): lay it out as every other batch is.
    return x.contiguous().reshape([-1]).view(images.shape);
  });
}
