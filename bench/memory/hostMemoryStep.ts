// One child of bench/memory/hostMemory.ts: the k-NS-shaped attack step (forward, cross-entropy, input
// gradient, L2 step) of the default small CNN with batch norm folded, at the given row counts,
// under whichever malloc settings this process runs with (MALLOC_* in the environment replace
// the addon's). Prints one JSON line: ms per step and MiB faulted in per step, per row count.
import { createModel, Generator, noGrad, scope } from '../../src/index.js';
import { rand, getNumThreads } from '../../src/tensor/index.js';
import * as F from '../../src/nn/functional.js';
import { grad } from '../../src/tensor/autograd.js';
import { withFoldedBatchNorm } from '../../src/nn/foldBatchNorm.js';
import { project, stepAlong } from '../../src/attacks/budget.js';

const rowsList = process.argv.slice(2).map(Number);
const g = new Generator(0);
const model = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.5 }, { generator: g }).eval();
const out: { rows: number; ms: number; faultMib: number }[] = [];
withFoldedBatchNorm(model, () => {
  for (const n of rowsList) {
    scope(() => {
      const x0 = rand([n, 1, 28, 28], { generator: g });
      const goal = noGrad(() => model.forward(x0).logits.argmax(1));
      let x = x0.clone().keep();
      const steps = (k: number) => {
        for (let i = 0; i < k; i++) {
          scope(() => {
            const xi = x.detach().requiresGrad_(true);
            const ce = F.crossEntropy(model.forward(xi).logits, goal, { reduction: 'none' });
            const [gr] = grad(ce.sum(), xi);
            const next = project(stepAlong(xi.detach(), gr!, 'l2', 0.0075), x0, 'l2', 0.3).keep();
            x.dispose();
            x = next;
          });
        }
      };
      steps(3);
      const k = Math.max(5, Math.round(4096 / n));
      const f0 = process.resourceUsage().minorPageFault;
      const t0 = performance.now();
      steps(k);
      out.push({
        rows: n,
        ms: (performance.now() - t0) / k,
        faultMib: ((process.resourceUsage().minorPageFault - f0) * 4096) / 2 ** 20 / k,
      });
      x.dispose();
    });
  }
});
console.log(JSON.stringify({ threads: getNumThreads(), steps: out }));
