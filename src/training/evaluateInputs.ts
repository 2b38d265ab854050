// Predictions for given images (an .npy array) rather than a data set.
import type { ImageClassifier } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import { cat } from '../tensor/tensor.js';
import { scope } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { withEval } from '../nn/module.js';

/** Predicted classes (int64 [N]) of images [N, C, H, W] in [0, 1], in batches. */
export function predict(model: ImageClassifier, images: Tensor, batchSize = 256): Tensor {
  const s = images.shape;
  const [c, h, w] = model.config.inputShape;
  if (s.length !== 4 || s[1] !== c || s[2] !== h || s[3] !== w) {
    throw new Error(`inputs have shape [${s.join(', ')}], the model expects [N, ${c}, ${h}, ${w}]`);
  }
  if (images.dtype !== 'float32') throw new Error(`inputs must be float32 images in [0, 1], got ${images.dtype}`);
  const lo = images.min().item();
  const hi = images.max().item();
  if (!(lo >= 0 && hi <= 1)) throw new Error(`inputs must lie in [0, 1], found values in [${lo}, ${hi}]`);
  return withEval(model, () => {
    return scope(() =>
      noGrad(() => {
        const parts: Tensor[] = [];
        for (let i = 0; i < s[0]!; i += batchSize) {
          const x = images.narrow(0, i, Math.min(batchSize, s[0]! - i)).to(model.device);
          parts.push(model.forward(x).logits.argmax(1).cpu());
        }
        // Predictions come back to the host, where the caller's images came from.
        return parts.length === 1 ? parts[0]! : cat(parts);
      }),
    );
  });
}
