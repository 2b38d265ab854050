// `sauron attack --attack autoattack`: the files and their schema, the numbers in results.json
// recomputed from samples.csv, the examples judged again by the model, a run killed mid-way
// and resumed, 2 ranks writing one process's bytes, the checks' warnings, bad combinations
// refused in one line.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scope } from '../../src/index.js';
import { loadNpy } from '../../src/serialization/index.js';
import { loadAnyModel } from '../../src/models/load.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { wilson } from '../../src/reports/intervals.js';
import { native } from '../../src/native.js';
import { ROOT, pauseAt } from '../support/helpers.js';
import { sauron, sauronOk, startSauron } from '../support/cli.js';

const PLAIN = join(ROOT, 'fixtures', 'broken', 'plain.pt');
const root = mkdtempSync(join(tmpdir(), 'sauron-aa-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A short APGD-CE run: 40 inputs in 3 batches, a budget that fools most of them (robust accuracy 12.5%). */
const ARGS = [
  'attack',
  '--model',
  PLAIN,
  '--dataset',
  'fashion-mnist',
  '--attack',
  'autoattack',
  '--version',
  'custom',
  '--attacks',
  'apgd-ce',
  '--norm',
  'linf',
  '--eps',
  '0.05',
  '--limit',
  '40',
  '--batch-size',
  '16',
  '--save-examples',
];

const untimed = (dir: string) => ({ ...JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')), seconds: 0 });
const same = (a: string, b: string, f: string) => assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
const OUTPUTS = ['samples.csv', 'clean.npy', 'adversarial.npy', 'indices.npy'];

const whole = join(root, 'whole');

test('autoattack writes results.json and samples.csv whose numbers agree, and examples the model judges as recorded', () => {
  const r = sauronOk([...ARGS, '--out', whole]);
  const brief = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const res = JSON.parse(readFileSync(join(whole, 'results.json'), 'utf8'));
  assert.deepEqual(
    Object.keys(res).filter((k) =>
      [
        'attack',
        'count',
        'cleanAccuracy',
        'robustAccuracy',
        'robustAccuracyInterval',
        'robustAccuracyByAttack',
        'checks',
        'seconds',
      ].includes(k),
    ),
    ['attack', 'count', 'cleanAccuracy', 'robustAccuracy', 'robustAccuracyInterval', 'robustAccuracyByAttack', 'checks', 'seconds'],
  );
  assert.equal(res.attack.attack, 'autoattack');
  assert.equal(res.attack.version, 'custom');
  assert.deepEqual(
    res.attack.attacks.map((a: { attack: string }) => a.attack),
    ['apgd-ce'],
  );
  assert.equal(res.attack.attacks[0].restarts, 5, 'custom runs APGD-CE as the reference constructs it');
  assert.equal(brief.robustAccuracy, res.robustAccuracy);
  // samples.csv: one line per input, and every number of results.json recomputed from it
  const lines = readFileSync(join(whole, 'samples.csv'), 'utf8').trim().split('\n');
  assert.equal(lines[0], 'index,label,clean_prediction,fooled_by,adversarial_prediction,l2,linf');
  const rows = lines.slice(1).map((l) => l.split(','));
  assert.deepEqual(
    rows.map((c) => Number(c[0])),
    Array.from({ length: 40 }, (_, i) => i),
  );
  const correct = rows.filter((c) => c[1] === c[2]);
  const robust = correct.filter((c) => c[3] === '').length;
  assert.ok(robust > 0 && robust < correct.length, `robust ${robust} of ${correct.length}: the test needs both`);
  assert.equal(res.count, 40);
  assert.equal(res.cleanAccuracy, correct.length / 40);
  assert.equal(res.robustAccuracy, robust / 40);
  assert.deepEqual(res.robustAccuracyInterval, wilson(robust, 40));
  assert.deepEqual(res.robustAccuracyByAttack, { clean: correct.length / 40, 'apgd-ce': robust / 40 });
  for (const c of rows) {
    if (c[1] !== c[2]) assert.deepEqual(c.slice(3), ['', c[2], '0', '0'], `a misclassified input is not attacked: ${c}`);
    else if (c[3] === '') assert.deepEqual(c.slice(4), [c[1], '0', '0'], `a robust input keeps its clean image: ${c}`);
    else assert.ok(c[3] === 'apgd-ce' && c[4] !== c[1] && Number(c[6]) > 0 && Number(c[6]) <= 0.05 + 1e-6, `a fooled input: ${c}`);
  }
  assert.deepEqual(
    res.checks.map((c: { id: string }) => c.id),
    ['randomized', 'softmax-output', 'zero-gradient', 'class-count', 'eps-sweep', 'unbounded-budget', 'loss-increase'],
  );
  for (const c of res.checks) {
    assert.deepEqual(Object.keys(c), ['id', 'fired', 'message']);
    assert.equal(c.fired, false, c.message);
    assert.ok(!c.message.includes('\n'), c.message);
  }
  assert.doesNotMatch(r.stderr, /warning/);
  // the examples: in the budget, and predicted as samples.csv says
  const model = loadAnyModel(PLAIN, { inputShape: [1, 28, 28] }).model;
  try {
    scope(() => {
      const adv = loadNpy(join(whole, 'adversarial.npy'));
      const clean = loadNpy(join(whole, 'clean.npy'));
      assert.deepEqual(adv.shape, [40, 1, 28, 28]);
      assert.ok(adv.sub(clean).abs().max().item() <= 0.05 + 1e-6, 'within the budget');
      assert.deepEqual(
        loadNpy(join(whole, 'indices.npy')).toNumbers(),
        rows.map((c) => Number(c[0])),
      );
      const pred = noGrad(() => model.forward(adv).logits.argmax(1)).toNumbers();
      assert.deepEqual(
        pred,
        rows.map((c) => Number(c[4])),
      );
    });
  } finally {
    model.dispose();
  }
});

test('autoattack killed after a batch resumes to the uninterrupted files', async () => {
  const out = join(root, 'resumed');
  const pause = pauseAt('attack batch 1 recorded', join(root, 'resume-pause'));
  const child = startSauron([...ARGS, '--out', out], { stdio: 'ignore', env: pause.env });
  const exited = new Promise((r) => child.on('exit', r));
  await pause.reached(child);
  child.kill('SIGKILL');
  await exited;
  assert.ok(!existsSync(join(out, 'results.json')), 'killed before it finished');
  assert.equal(readFileSync(join(out, 'progress.jsonl'), 'utf8').trim().split('\n').length, 2, 'batches 0 and 1 were recorded');
  const refused = sauron([...ARGS, '--out', out]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /holds another attack's results: pass --resume/);
  const other = sauron([...ARGS.map((a) => (a === '0.05' ? '0.06' : a)), '--out', out, '--resume']);
  assert.match(other.stderr, /holds an attack with other settings/);
  sauronOk([...ARGS, '--out', out, '--resume']);
  for (const f of OUTPUTS) same(whole, out, f);
  assert.deepEqual(untimed(out), untimed(whole));
});

test("autoattack on 2 ranks writes the single process's files byte for byte", {
  skip: !native.hasGloo && 'the addon was built without Gloo',
}, () => {
  const out = join(root, 'ranks');
  const r = sauronOk(['launch', '--nproc', '2', '--', ...ARGS, '--out', out]);
  assert.match(r.stdout, /\[rank 0\] \{"out"/);
  for (const f of OUTPUTS) same(whole, out, f);
  assert.deepEqual(untimed(out), untimed(whole));
});

test('fired checks are warnings on stderr, one line each, and recorded in results.json', () => {
  const out = join(root, 'quantized');
  const args = [
    ...ARGS.slice(0, 2),
    join(ROOT, 'fixtures', 'broken', 'quantized.pt'),
    ...ARGS.slice(3, 15),
    '--limit',
    '8',
    '--batch-size',
    '8',
    '--out',
    out,
  ];
  const r = sauronOk(args);
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  const fired = res.checks.filter((c: { fired: boolean }) => c.fired).map((c: { id: string }) => c.id);
  assert.deepEqual(fired, ['zero-gradient', 'eps-sweep', 'unbounded-budget', 'loss-increase']);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning'));
  assert.deepEqual(
    warnings.map((l) => /^warning \(([a-z-]+)\): \S/.exec(l)?.[1]),
    fired,
    r.stderr,
  );
});

test('bad combinations are refused in one line', () => {
  const base = [
    'attack',
    '--model',
    PLAIN,
    '--dataset',
    'fashion-mnist',
    '--norm',
    'linf',
    '--eps',
    '0.1',
    '--limit',
    '4',
    '--out',
    join(root, 'bad'),
  ];
  const cases: [string[], RegExp][] = [
    [['--attack', 'autoattack', '--attacks', 'apgd-ce'], /--attacks needs --version custom \(--version standard sets its own attacks\)/],
    [['--attack', 'autoattack', '--version', 'custom'], /--version custom needs --attacks/],
    [
      ['--attack', 'autoattack', '--version', 'custom', '--attacks', 'apgd-ce,pgd'],
      /--attacks: unknown attack 'pgd' \(expected apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square\)/,
    ],
    [['--attack', 'autoattack', '--version', 'custom', '--attacks', 'square,square'], /--attacks: attack 'square' is listed twice/],
    [['--attack', 'autoattack', '--version', 'newest'], /argument 'newest' is invalid/],
    [['--attack', 'autoattack', '--neurons', '1,4'], /--neurons is an option of --attack pgd or kns, not of --attack autoattack/],
    [['--attack', 'square', '--restarts', '3'], /--restarts is an option of --attack pgd or kns, not of --attack square/],
    [['--attack', 'apgd-t', '--no-early-stop'], /--early-stop \/ --no-early-stop is an option of --attack pgd or kns/],
    [['--attack', 'fab-t', '--version', 'plus'], /--version applies to --attack autoattack; --attack fab-t runs that attack alone/],
    [['--attack', 'pgd', '--version', 'plus'], /--version applies to --attack autoattack, not --attack pgd/],
    [['--attack', 'kns', '--attacks', 'fab'], /--attacks applies to --attack autoattack, not --attack kns/],
  ];
  for (const [args, re] of cases) {
    const r = sauron([...base, ...args]);
    assert.notEqual(r.status, 0, args.join(' '));
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('(run with --help'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, re);
  }
  assert.ok(!existsSync(join(root, 'bad', 'results.json')), 'nothing was attacked');
});
