// A/B timing of two variants of the same code in one process: the best milliseconds per call of
// each over the rounds, the variants' rounds interleaved so that a slower stretch of the machine
// does not fall on one of them only.

/**
 * Best ms per call of fn for variant 0 and variant 1, over `rounds` rounds of `steps` calls each
 * (after one warm-up call per round). `use(k)` switches to variant k; variant 0 is on at the end.
 */
export function interleavedBest(fn: () => void, use: (variant: 0 | 1) => void, rounds: number, steps: number): [number, number] {
  const best = [Infinity, Infinity];
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? ([1, 0] as const) : ([0, 1] as const)) {
      use(k);
      fn();
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) fn();
      best[k] = Math.min(best[k]!, (performance.now() - t0) / steps);
    }
  }
  use(0);
  return best as [number, number];
}
