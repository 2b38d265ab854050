// The difference of two rates measured on the same inputs (two models attacked on Table 1's
// inputs): Newcombe's square-and-add interval for paired proportions (Newcombe 1998, "Improved
// confidence intervals for the difference between binomial proportions based on paired data",
// method 10). Each input gives a pair of outcomes; the pairs are independent draws (the inputs
// are a sample of the test distribution and each model's attack randomness is per input), so
// the pairing is what the data are. With positively correlated outcomes (inputs hard for one
// model tend to be hard for the other) it is narrower than the independent-samples interval,
// which it equals when the outcomes are uncorrelated.
import { wilson } from '../reports/intervals.js';

/** Outcomes on the same inputs: both hit, only the first, only the second, neither. */
export interface PairedCounts {
  both: number;
  onlyFirst: number;
  onlySecond: number;
  neither: number;
}

/** The 2x2 table of two per-input outcomes, matched by input (every input must be in both). */
export function pairedCounts(first: Map<number, boolean>, second: Map<number, boolean>): PairedCounts {
  if (first.size !== second.size) throw new Error(`paired rates need the same inputs: ${first.size} vs ${second.size}`);
  const t: PairedCounts = { both: 0, onlyFirst: 0, onlySecond: 0, neither: 0 };
  for (const [i, a] of first) {
    const b = second.get(i);
    if (b === undefined) throw new Error(`paired rates need the same inputs: input ${i} is in one only`);
    if (a && b) t.both++;
    else if (a) t.onlyFirst++;
    else if (b) t.onlySecond++;
    else t.neither++;
  }
  return t;
}

/**
 * p1 - p2 with its 95% interval, p1 = (both + onlyFirst) / n and p2 = (both + onlySecond) / n:
 * each rate's Wilson interval, combined with the estimated correlation of the two outcomes
 * (phi, continuity-corrected towards 0 when positive, as Newcombe's method 10).
 */
export function pairedRateDifference(t: PairedCounts): { difference: number; interval: [number, number]; n: number } {
  const n = t.both + t.onlyFirst + t.onlySecond + t.neither;
  if (n === 0) return { difference: 0, interval: [-1, 1], n };
  const h1 = t.both + t.onlyFirst;
  const h2 = t.both + t.onlySecond;
  const p1 = h1 / n;
  const p2 = h2 / n;
  const [l1, u1] = wilson(h1, n);
  const [l2, u2] = wilson(h2, n);
  const margins = h1 * (n - h1) * h2 * (n - h2);
  const cross = t.both * t.neither - t.onlyFirst * t.onlySecond;
  const corrected = cross > n / 2 ? cross - n / 2 : Math.min(cross, 0);
  const phi = margins > 0 ? corrected / Math.sqrt(margins) : 0;
  const d = p1 - p2;
  const lower = d - Math.sqrt(Math.max(0, (p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2)));
  const upper = d + Math.sqrt(Math.max(0, (u1 - p1) ** 2 + (p2 - l2) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2)));
  return { difference: d, interval: [Math.max(-1, lower), Math.min(1, upper)], n };
}
