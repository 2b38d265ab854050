// The BLAS the addon's matrix products run in: BLIS where Debian's libtorch is used (linked by
// scripts/build-native.mjs), and a row's linear output and input gradient independent of the
// batch it comes in and of the thread count (sharded analysis, early-stopped attacks and
// "results do not depend on the batch size" rest on it; OpenBLAS breaks it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createModel, Generator, scope, type Tensor } from '../../src/index.js';
import { blasLibrary, getNumThreads, grad, rand, randn, setNumThreads } from '../../src/tensor/index.js';
import { F } from '../../src/nn/index.js';
import { ROOT } from '../support/helpers.js';

const blisDir = '/usr/lib/x86_64-linux-gnu/blis-openmp';

test("the addon runs its matrix products in BLIS when built against Debian's libtorch with BLIS installed", {
  skip: process.env.LIBTORCH || !existsSync(blisDir) ? 'another libtorch, or no BLIS here' : false,
}, () => {
  assert.equal(blasLibrary(), `${blisDir}/libblas.so.3`);
});

test("a row's linear output and input gradient are bitwise the same in any batch and with 1 or 2 threads", () => {
  const threads = getNumThreads();
  try {
    scope(() => {
      const g = new Generator(0);
      for (const [k, n] of [
        [1568, 128],
        [128, 10],
        [512, 10],
      ] as const) {
        const w = randn([n, k], { generator: g });
        const b = randn([n], { generator: g });
        const x = randn([130, k], { generator: g });
        const up = randn([130, n], { generator: g });
        const run = (rows: Tensor, upstream: Tensor) => {
          const xi = rows.detach().requiresGrad_();
          const out = F.linear(xi, w, b);
          const [gx] = grad(out.mul(upstream).sum(), xi);
          return { out: out.detach(), gx: gx! };
        };
        setNumThreads(2);
        const ref = run(x, up);
        for (const t of [1, 2]) {
          setNumThreads(t);
          for (const [start, m] of [
            [0, 1],
            [129, 1],
            [5, 2],
            [3, 7],
            [64, 66],
            [0, 130],
          ]) {
            const r = run(x.narrow(0, start, m), up.narrow(0, start, m));
            assert.equal(
              r.out
                .sub(ref.out.narrow(0, start, m))
                .abs()
                .max()
                .item(),
              0,
              `output, ${k}x${n}, rows ${start}+${m}, ${t} threads`,
            );
            assert.equal(
              r.gx
                .sub(ref.gx.narrow(0, start, m))
                .abs()
                .max()
                .item(),
              0,
              `input gradient, ${k}x${n}, rows ${start}+${m}, ${t} threads`,
            );
          }
        }
      }
    });
  } finally {
    setNumThreads(threads);
  }
});

test("an image's logits, features and input gradient are bitwise the same alone and in a batch (small CNN, VGG-11, ResNet-18)", () => {
  const cases: [string, [number, number, number]][] = [
    ['small-cnn', [1, 28, 28]],
    ['vgg11', [3, 32, 32]],
    ['resnet18', [3, 32, 32]],
  ];
  for (const [arch, inputShape] of cases) {
    const m = createModel({ arch, inputShape, numClasses: 10, width: 0.25 }, { generator: new Generator(3) }).eval();
    try {
      scope(() => {
        const x = rand([6, ...inputShape], { generator: new Generator(4) });
        const run = (xs: Tensor) => {
          const xi = xs.detach().requiresGrad_(true);
          const o = m.forward(xi);
          const [g] = grad(o.features.sum().add(o.logits.sum()), xi);
          return [o.logits.detach(), o.features.detach(), g!];
        };
        const whole = run(x);
        for (let i = 0; i < 6; i++) {
          const alone = run(x.narrow(0, i, 1));
          alone.forEach((t, k) =>
            assert.equal(
              t
                .sub(whole[k]!.narrow(0, i, 1))
                .abs()
                .max()
                .item(),
              0,
              `${arch} image ${i} output ${k}`,
            ),
          );
        }
      });
    } finally {
      m.dispose();
    }
  }
});

test("BLIS multiplies on libtorch's thread count, with the same bits as on one thread", {
  skip: process.env.LIBTORCH || !existsSync(blisDir) ? 'another libtorch, or no BLIS here' : false,
}, () => {
  const { BLIS_NUM_THREADS: _, ...rest } = process.env;
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'unit', 'blasThreadsChild.ts')], {
      encoding: 'utf8',
      env: { ...rest, ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  const digest = run({ SAURON_NUM_THREADS: '2' });
  assert.match(digest, /^[0-9a-f]{64}$/);
  assert.equal(run({ BLIS_NUM_THREADS: '1', SAURON_NUM_THREADS: '2' }), digest, 'BLIS on 1 thread');
  assert.equal(run({ BLIS_NUM_THREADS: '2', SAURON_NUM_THREADS: '1' }), digest, 'BLIS on 2 threads, libtorch on 1');
  // the thread count goes into BLIS, not into the environment children inherit
  const env = spawnSync(
    process.execPath,
    ['--import', 'tsx', '-e', 'await import("./src/index.ts"); console.log(process.env.BLIS_NUM_THREADS ?? "unset")'],
    { encoding: 'utf8', cwd: ROOT, env: rest },
  );
  assert.equal(env.stdout.trim(), 'unset', env.stderr);
});
