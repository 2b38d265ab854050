import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/helpers.js';
import * as api from '../../src/index.js';
import * as tensorApi from '../../src/tensor/index.js';
import * as nnApi from '../../src/nn/index.js';
import * as optimApi from '../../src/optim/index.js';
import * as serializationApi from '../../src/serialization/index.js';
import { sauron } from '../support/cli.js';

test('sauron bench --json prints one JSON object with the step timings', () => {
  const r = sauron(['bench', '--arch', 'small-cnn', '--input', '1x28x28', '--batch', '4', '--steps', '2', '--width', '0.25', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.ok(o.trainStepMs > 0 && o.inputGradStepMs > 0);
  assert.equal(o.trainStepMsAll.length, 2);
  assert.ok(o.threads >= 1);
  assert.match(o.libtorch, /^\d+\.\d+/);
});

test('bad options exit non-zero with a one-line error', () => {
  for (const args of [
    ['bench', '--arch', 'nope'],
    ['bench', '--batch', '-2'],
    ['bench', '--input', '3x32'],
    ['bench', '--steps', 'abc'],
  ]) {
    const r = sauron(args);
    assert.notEqual(r.status, 0, args.join(' '));
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('(run with --help'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /error|sauron:/);
  }
  assert.equal(sauron(['--help']).status, 0);
});

test('the package entry points: a root for what users call, the engine by layer (package.json exports)', () => {
  for (const name of [
    'Tensor',
    'noGrad',
    'scope',
    'Generator',
    'createModel',
    'ImageClassifier',
    'saveModel',
    'loadModel',
    'openDataset',
    'sensitivity',
    'delta',
    'pgdAttack',
    'knsAttack',
    'autoAttack',
    'train',
    'pruneFeatures',
    'reproduce',
    'startExplorer',
  ]) {
    assert.ok(name in api, name);
  }
  // the engine and the internals stay out of the root
  for (const name of ['nn', 'optim', 'F', 'zeros', 'saveSafetensors', 'benchEngine', 'runSteps', 'Explorer', 'launchProcesses']) {
    assert.ok(!(name in api), `the root exports ${name}`);
  }
  assert.equal(typeof tensorApi.randn, 'function');
  assert.equal(typeof nnApi.Conv2d, 'function');
  assert.equal(typeof nnApi.F.crossEntropy, 'function');
  assert.equal(typeof optimApi.SGD, 'function');
  assert.equal(typeof serializationApi.loadSafetensors, 'function');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.deepEqual(Object.keys(pkg.exports), ['.', './tensor', './nn', './optim', './serialization', './package.json']);
});
