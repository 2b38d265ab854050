// Binomial confidence intervals for the rates the reports compare: Wilson's score interval
// for one rate, Newcombe's hybrid score interval for the difference of two.

const Z95 = 1.959963984540054;

/**
 * Wilson score interval of `hits` successes out of `n` (95% by default).
 *
 * @example
 * ```ts
 * wilson(42, 100); // [0.328, 0.518]
 * ```
 */
export function wilson(hits: number, n: number, z = Z95): [number, number] {
  if (!(n > 0)) return [0, 1];
  const p = hits / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * Newcombe's hybrid score interval of p1 - p2 for independent samples (his method 10). For
 * two models attacked on the same inputs the samples are paired; ignoring the pairing makes
 * the interval wider, never narrower, when the outcomes are positively correlated.
 */
export function rateDifference(
  hits1: number,
  n1: number,
  hits2: number,
  n2: number,
  z = Z95,
): { difference: number; interval: [number, number] } {
  const p1 = n1 > 0 ? hits1 / n1 : 0;
  const p2 = n2 > 0 ? hits2 / n2 : 0;
  const [l1, u1] = wilson(hits1, n1, z);
  const [l2, u2] = wilson(hits2, n2, z);
  const d = p1 - p2;
  return { difference: d, interval: [d - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)] };
}
