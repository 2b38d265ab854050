// One child of bench/blas/blas.ts: the attack step of the default small CNN (batch 128) with batch
// norm as a layer and folded, and whether a linear layer's rows are batch-independent, under
// whichever BLAS this process loaded (the parent picks it with LD_LIBRARY_PATH).
import { createModel, Generator, noGrad, scope, type Tensor } from '../../src/index.js';
import { blasLibrary, getNumThreads, rand, randint, randn, setNumThreads } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { timeFolding } from '../batchNorm/foldTiming.js';

const steps = 10;
const rounds = 3;
const g = new Generator(0);
const model = createModel({ arch: 'small-cnn', inputShape: [1, 28, 28], numClasses: 10, width: 0.5 }, { generator: g }).eval();
const x = rand([128, 1, 28, 28], { generator: g }).keep();
const y = randint(0, 10, [128], { generator: g }).keep();
const { batchNorm: bn, folded } = timeFolding(model, x, y, steps, rounds);

// the fully connected layer's shape: rows alone, in small batches and with 1 thread, against the whole batch with 2
const threads = getNumThreads();
const invariant = scope(() => {
  const w = randn([128, 1568], { generator: g });
  const rows = randn([130, 1568], { generator: g });
  const ref = noGrad(() => F.linear(rows, w));
  let same = true;
  for (const t of [threads, 1]) {
    setNumThreads(t);
    for (const [s, m] of [
      [0, 1],
      [3, 7],
      [64, 66],
    ]) {
      const out: Tensor = noGrad(() => F.linear(rows.narrow(0, s, m), w));
      if (
        out
          .sub(ref.narrow(0, s, m))
          .abs()
          .max()
          .item() !== 0
      )
        same = false;
    }
  }
  setNumThreads(threads);
  return same;
});
console.log(JSON.stringify({ library: blasLibrary(), batchNorm: bn, folded, invariant, threads }));
