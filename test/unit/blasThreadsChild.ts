// Prints a digest of a fully connected layer's output and input gradient, for blas.test.ts to
// compare across processes whose BLIS runs on different thread counts (BLIS_NUM_THREADS).
import { createHash } from 'node:crypto';
import { Generator, scope } from '../../src/index.js';
import { grad, randn } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';

scope(() => {
  const g = new Generator(0);
  const h = createHash('sha256');
  for (const [rows, k, n] of [
    [256, 1568, 128],
    [211, 1568, 128],
    [256, 128, 10],
    [1000, 512, 256],
  ] as const) {
    const w = randn([n, k], { generator: g });
    const b = randn([n], { generator: g });
    const x = randn([rows, k], { generator: g }).requiresGrad_();
    const out = F.linear(x, w, b);
    const [gx] = grad(out.mul(randn([rows, n], { generator: g })).sum(), x);
    for (const t of [out.detach(), gx!]) h.update(Buffer.from(t.contiguous().toArray<'float32'>().buffer));
  }
  console.log(h.digest('hex'));
});
