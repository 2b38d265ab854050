// Binomial intervals against published values, and the verdicts findings draw from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rateDifference, wilson } from '../../src/reports/intervals.js';
import { compare, describe } from '../../src/reproduce/findings.js';

const close = (a: number, b: number, tol = 5e-5) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test('Wilson and Newcombe intervals match the published examples', () => {
  // Newcombe (1998), "Interval estimation for the difference between independent proportions",
  // example (a): 56/70 vs 48/80, difference 0.2000, method 10 interval 0.0524 to 0.3339.
  const d = rateDifference(56, 70, 48, 80);
  close(d.difference, 0.2);
  close(d.interval[0], 0.0524);
  close(d.interval[1], 0.3339);
  // his example (b): 9/10 vs 3/10, interval 0.1705 to 0.8090
  const b = rateDifference(9, 10, 3, 10);
  close(b.interval[0], 0.1705);
  close(b.interval[1], 0.809);
  // Wilson: 81 of 263 (Newcombe 1998, single proportions): 0.2553 to 0.3662
  const [lo, hi] = wilson(81, 263);
  close(lo, 0.2553);
  close(hi, 0.3662);
  assert.deepEqual(wilson(0, 0), [0, 1]);
  assert.equal(wilson(0, 10)[0], 0);
  close(wilson(10, 10)[1], 1);
});

test('verdicts follow the interval of the difference, not the point estimate', () => {
  assert.equal(compare({ hits: 560, n: 700 }, { hits: 480, n: 800 }).verdict, 'holds');
  assert.equal(compare({ hits: 480, n: 800 }, { hits: 560, n: 700 }).verdict, 'does not hold');
  // a 10-point difference on 20 inputs is noise
  assert.equal(compare({ hits: 12, n: 20 }, { hits: 10, n: 20 }).verdict, 'inconclusive');
  // a margin moves the bar: 20 points [5, 33] clears 0 but not 10
  assert.equal(compare({ hits: 56, n: 70 }, { hits: 48, n: 80 }, 0.1).verdict, 'inconclusive');
  assert.equal(compare({ hits: 0, n: 0 }, { hits: 1, n: 2 }).verdict, 'inconclusive');
  assert.match(describe({ hits: 56, n: 70 }), /^80\.0% \[69\.2, 87\.7\] of 70$/);
});
