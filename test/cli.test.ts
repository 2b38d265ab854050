import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import * as api from '../src/index.js';

function sauron(...args: string[]) {
  return spawnSync(process.execPath, [join(ROOT, 'bin', 'sauron.js'), ...args], { encoding: 'utf8' });
}

test('sauron bench --json prints one JSON object with the step timings', () => {
  const r = sauron('bench', '--arch', 'small-cnn', '--input', '1x28x28', '--batch', '4', '--steps', '2', '--width', '0.25', '--json');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.ok(o.trainStepMs > 0 && o.inputGradStepMs > 0);
  assert.equal(o.trainStepMsAll.length, 2);
  assert.ok(o.threads >= 1);
  assert.match(o.libtorch, /^\d+\.\d+/);
});

test('bad options exit non-zero with a one-line error', () => {
  for (const args of [['bench', '--arch', 'nope'], ['bench', '--batch', '-2'], ['bench', '--input', '3x32'], ['bench', '--steps', 'abc']]) {
    const r = sauron(...args);
    assert.notEqual(r.status, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('(run with --help'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /error|sauron:/);
  }
  assert.equal(sauron('--help').status, 0);
});

test('the package entry point exports the typed API', () => {
  for (const name of ['Tensor', 'tensor', 'zeros', 'randn', 'grad', 'noGrad', 'scope', 'Generator', 'nn', 'optim', 'F',
    'createModel', 'ImageClassifier', 'saveModel', 'loadModel', 'saveSafetensors', 'loadSafetensors', 'benchEngine']) {
    assert.ok(name in api, name);
  }
  assert.equal(typeof api.nn.Conv2d, 'function');
  assert.equal(typeof api.optim.SGD, 'function');
});
