// AutoAttack with the ranks sharing each attack's rows (src/attacks/rowShare.ts): every attack's
// rows are split among the ranks, none twice, their counts within one of each other, and every
// rank ends with the single process's records and examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT } from '../support/helpers.js';
import { runRanks } from '../support/ranks.js';
import { rowsOfRank } from '../../src/attacks/rowShare.js';
import { native } from '../../src/native.js';

const CHILD = join(ROOT, 'test', 'parallel', 'autoattackShareChild.ts');
const skip = !native.hasGloo && 'the addon was built without Gloo (install libgloo-dev and run npm ci)';

interface Out {
  calls: Record<string, number[]>;
  records: unknown[];
  sums: number[];
}

test('rowsOfRank deals the rows out in turn', () => {
  assert.deepEqual(rowsOfRank(7, 0, 3), [0, 3, 6]);
  assert.deepEqual(rowsOfRank(7, 2, 3), [2, 5]);
  assert.deepEqual(rowsOfRank(1, 1, 2), []);
  assert.deepEqual(rowsOfRank(0, 0, 2), []);
});

test('ranks share every attack of the cascade evenly and get the single process answers', { skip, timeout: 240_000 }, async () => {
  const [alone] = await runRanks(CHILD, 1);
  assert.equal(alone!.code, 0, JSON.stringify(alone!.out));
  const one = alone!.out as unknown as Out;
  // the test needs inputs left for every attack and some fooled by each stage's end
  assert.deepEqual(Object.keys(one.calls), ['apgd-ce', 'apgd-t', 'fab-t', 'square'], JSON.stringify(one.calls));
  for (const world of [2, 3]) {
    const rs = await runRanks(CHILD, world);
    rs.forEach((r) => assert.equal(r.code, 0, JSON.stringify(r.out)));
    const outs = rs.map((r) => r.out as unknown as Out);
    for (const [attack, rows] of Object.entries(one.calls)) {
      const got = outs.map((o) => o.calls[attack] ?? []);
      assert.deepEqual(
        got.flat().sort((a, b) => a - b),
        [...rows].sort((a, b) => a - b),
        `${attack}: the ranks' rows, ${world} ranks`,
      );
      const counts = got.map((g) => g.length);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${attack}: ${counts.join(', ')} rows per rank`);
    }
    for (const o of outs) {
      assert.deepEqual(o.records, one.records, `records, ${world} ranks`);
      assert.deepEqual(o.sums, one.sums, `examples, ${world} ranks`);
    }
  }
});
