// c10d over Gloo between real processes on 127.0.0.1: each collective gives every rank the
// right values, and a rank that dies makes the other fail with an error instead of hanging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT } from '../support/helpers.js';
import { runRanks } from '../support/ranks.js';
import { initProcessGroup } from '../../src/tensor/index.js';
import { native } from '../../src/native.js';

// Debian's setup installs gloo's headers; an addon built against a libtorch without them says so
const skip = !native.hasGloo && 'the addon was built without Gloo (install libgloo-dev and run npm ci)';

const ranks = (n: number, env: Record<string, string> = {}) => runRanks(join(ROOT, 'test', 'parallel', 'distributedChild.ts'), n, env);

test('two ranks: allReduce (sum, max), broadcast, allGather and barrier give every rank the same, right values', { skip }, async () => {
  const rs = await ranks(2);
  for (const [rank, r] of rs.entries()) {
    assert.equal(r.code, 0, JSON.stringify(r.out));
    assert.deepEqual(r.out, {
      rank,
      worldSize: 2,
      sum: [3, 30],
      max: [5],
      broadcast: [7, 8, 9],
      gathered: [
        [0, 0],
        [1, 1],
      ],
    });
  }
});

test('three ranks agree as well', { skip }, async () => {
  const rs = await ranks(3);
  for (const r of rs) {
    assert.equal(r.code, 0, JSON.stringify(r.out));
    assert.deepEqual((r.out as { sum: number[] }).sum, [6, 60]);
    assert.deepEqual((r.out as { gathered: number[][] }).gathered, [
      [0, 0],
      [1, 1],
      [2, 4],
    ]);
  }
});

test('a rank that leaves makes the other fail with an error naming it', { skip }, async () => {
  const [r0, r1] = await ranks(2, { DIE: '1', TIMEOUT_MS: '4000' });
  assert.equal(r1!.code, 0);
  assert.equal(r0!.code, 3, JSON.stringify(r0!.out));
  assert.match(String(r0!.out.error), /^allReduce on rank 0 of 2 failed \(.*\): rank 1 stopped or cannot be reached$/);
});

test('of three ranks, the survivors name the one that left (they check in through the store)', { skip }, async () => {
  const rs = await ranks(3, { DIE: '2', TIMEOUT_MS: '4000' });
  assert.equal(rs[2]!.code, 0);
  for (const r of [rs[0]!, rs[1]!]) {
    assert.equal(r.code, 3, JSON.stringify(r.out));
    assert.match(String(r.out.error), /failed \(.*\): rank 2 stopped or cannot be reached \(no check-in within 10 s\)$/);
  }
  // rank 0 serves the store: when it leaves, the others say so
  const gone = await ranks(3, { DIE: '0', TIMEOUT_MS: '4000' });
  for (const r of [gone[1]!, gone[2]!]) {
    assert.equal(r.code, 3, JSON.stringify(r.out));
    assert.match(
      String(r.out.error),
      /rank 0 \(which serves the rendezvous store\) stopped or cannot be reached|rank 0 stopped or cannot be reached/,
    );
  }
});

test('bad settings are refused before any network is touched', { skip }, () => {
  assert.throws(() => initProcessGroup({ rank: 2, worldSize: 2 }), /rank 2 is outside a world of 2/);
  assert.throws(() => initProcessGroup({ rank: 0, worldSize: 1, port: 70000 }), /port 70000 is outside/);
});
