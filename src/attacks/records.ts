// One builder for every attack's per-row records: the examples are judged by the model as given
// (not the folded one the loop ran, and in float32), then each row gets its predictions, norms,
// and the restart and iteration of its kept iterate.
import type { ImageClassifier, ModelOutput } from '../models/classifier.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertInBudget, sampleNorms } from './budget.js';
import type { Norm } from './threat.js';
import type { SampleRecord } from './attackTypes.js';

export interface Judged {
  /** The model's output on the examples (eval mode, no gradients). */
  output: ModelOutput;
  /** Per row: the prediction on the example, and the perturbation's L2 and Linf norms. */
  prediction: number[];
  l2: number[];
  linf: number[];
}

/** Checks the examples [R, ...] lie in their budgets around x0 [R, ...], then judges them. */
export function judge(model: ImageClassifier, adversarial: Tensor, x0: Tensor, norm: Norm, eps: number): Judged {
  assertInBudget(adversarial, x0, norm, eps);
  const output = noGrad(() => model.forward(adversarial));
  const d = adversarial.sub(x0);
  return { output, prediction: output.logits.argmax(1).toNumbers(), l2: sampleNorms(d, 'l2').toNumbers(), linf: sampleNorms(d, 'linf').toNumbers() };
}

export interface RowFacts {
  /** Per row: its input's data-set position and label, and the clean prediction. */
  index: ArrayLike<number>;
  label: ArrayLike<number>;
  clean: ArrayLike<number>;
  /** Per row: the class the attack pushed away from (untargeted) or towards (targeted). */
  goal: ArrayLike<number>;
  targeted: boolean;
  /** Per row: the restart and iteration of the kept iterate (iteration 0 = the start point). */
  restart: ArrayLike<number>;
  iteration: ArrayLike<number>;
}

/** One record per judged row; success: the prediction left the goal (reached it, targeted). */
export function sampleRecords(j: Judged, f: RowFacts): SampleRecord[] {
  return j.prediction.map((adv, r) => ({
    index: f.index[r]!, label: f.label[r]!, cleanPrediction: f.clean[r]!, adversarialPrediction: adv,
    success: f.targeted ? adv === f.goal[r] : adv !== f.goal[r],
    l2: j.l2[r]!, linf: j.linf[r]!, restart: f.restart[r]!, iteration: f.iteration[r]!,
  }));
}
