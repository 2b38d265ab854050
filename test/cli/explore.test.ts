// The explorer's API over a tiny trained model: what each route answers, that every bad
// parameter is a 400 (unknown ids 404) with a message, that no path reaches outside the given
// folders, and that a live neuron attack runs in a worker and can be cancelled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { pauseAt } from '../support/helpers.js';
import { startExplorer, type RunningExplorer } from '../../src/index.js';
import type { InputDetail, InputPage, JobInfo, NeuronDetail, Catalog, Distribution } from '../../src/explore/index.js';
import { exploreFixture, type ExploreFixture } from '../support/exploreFixture.js';
import { sauron, startSauron } from '../support/cli.js';

let fx: ExploreFixture;
let ex: RunningExplorer;

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: any; type: string }> {
  const r = await fetch(new URL(path, ex.url), init);
  const type = r.headers.get('content-type') ?? '';
  const body = type.startsWith('application/json') ? await r.json() : Buffer.from(await r.arrayBuffer());
  return { status: r.status, body, type };
}

/** A raw request line: fetch() normalises `..` away, an attacker's client does not. */
function rawGet(path: string): Promise<number> {
  const u = new URL(ex.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

const post = (body: unknown) =>
  api('/api/attacks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function waitJob(id: string): Promise<JobInfo> {
  for (;;) {
    const { body } = await api(`/api/attacks/${id}`);
    if (!['queued', 'running'].includes(body.state)) return body;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.before(async () => {
  fx = await exploreFixture();
  // something outside the folders, and a symlink inside one pointing at it
  writeFileSync(join(fx.root, 'secret.txt'), 'not for the browser');
  symlinkSync(join(fx.root, 'secret.txt'), join(fx.sens, 'link.txt'));
  ex = await startExplorer({ folders: [fx.sens, fx.attack], port: 0 });
});

test.after(async () => {
  await ex?.close();
  if (fx && !process.env.SAURON_KEEP_TEST_OUTPUT) rmSync(fx.root, { recursive: true, force: true });
});

test('binds 127.0.0.1 by default and serves the pages and the chart libraries itself', async () => {
  assert.match(ex.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await api('/');
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  const html = page.body.toString();
  assert.doesNotMatch(html, /https?:\/\//, 'no CDN');
  for (const f of ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js']) {
    const r = await api(`/vendor/${f}`);
    assert.equal(r.status, 200, f);
    assert.ok(r.body.length > 10000, f);
  }
  assert.equal((await api('/vendor/package.json')).status, 404);
});

test('the catalog finds the model through its sensitivity and attack folders', async () => {
  const { status, body } = await api('/api/catalog');
  assert.equal(status, 200);
  const c = body as Catalog;
  assert.equal(c.models.length, 1);
  const m = c.models[0]!;
  assert.equal(m.id, 'run');
  assert.equal(m.sensitivity, 'folder');
  assert.equal(m.featureDim, 32);
  assert.equal(m.classNames.length, 10);
  assert.deepEqual(
    m.attacks.map((a) => [a.attack, a.norm, a.count]),
    [['pgd', 'l2', 32]],
  );
});

test('input pages: paging, filters and their bad values', async () => {
  const all = (await api('/api/models/run/inputs?limit=500')).body as InputPage;
  assert.equal(all.total, 64);
  const page = await api('/api/models/run/inputs?offset=10&limit=5');
  assert.equal(page.status, 200);
  assert.deepEqual(
    page.body.items.map((i: { index: number }) => i.index),
    [10, 11, 12, 13, 14],
  );
  const wrong = (await api('/api/models/run/inputs?correct=wrong&limit=500')).body as InputPage;
  // (each filter's page is non-empty: an empty list would pass any .every)
  assert.ok(wrong.items.length > 0 && wrong.items.every((i) => !i.correct && i.label !== i.prediction));
  const right = (await api('/api/models/run/inputs?correct=correct&limit=500')).body as InputPage;
  assert.equal(wrong.total + right.total, 64);
  const cls = (await api('/api/models/run/inputs?class=3&limit=500')).body as InputPage;
  assert.ok(cls.items.length > 0 && cls.items.every((i) => i.label === 3));
  const fooled = (await api('/api/models/run/inputs?fooled=pgd&limit=500')).body as InputPage;
  // only the 32 attacked inputs can be fooled; the attack folder says which
  assert.ok(fooled.items.length > 0 && fooled.items.every((i) => i.index < 32 && i.fooledPgd === true));
  assert.equal(all.items.slice(32).length, 32);
  assert.ok(all.items.slice(32).every((i) => i.fooledPgd === null));
  for (const [q, msg] of [
    ['offset=-1', /offset/],
    ['limit=0', /limit/],
    ['limit=501', /limit/],
    ['limit=abc', /limit must be an integer/],
    ['class=10', /class/],
    ['correct=maybe', /correct must be one of/],
    ['fooled=kns', /no kns attack folder/],
  ] as const) {
    const r = await api(`/api/models/run/inputs?${q}`);
    assert.equal(r.status, 400, q);
    assert.match(r.body.error, msg, q);
  }
  assert.equal((await api('/api/models/nope/inputs')).status, 404);
});

test('one input: probabilities, neurons ranked by scaled Delta, its image; bad indices refused', async () => {
  const { status, body } = await api('/api/models/run/inputs/3');
  assert.equal(status, 200);
  const d = body as InputDetail;
  assert.equal(d.probabilities.length, 10);
  assert.ok(Math.abs(d.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  assert.equal(d.prediction, d.probabilities.indexOf(Math.max(...d.probabilities)));
  assert.equal(d.neurons.length, 32);
  assert.deepEqual(
    d.neurons.map((n) => n.rank),
    Array.from({ length: 32 }, (_, i) => i + 1),
  );
  // ascending scaled Delta, infinite (null) last
  const s = d.neurons.map((n) => n.scaled ?? Infinity);
  for (let i = 1; i < s.length; i++) assert.ok(s[i - 1]! <= s[i]!, `rank ${i}`);
  const png = await api('/api/models/run/inputs/3/image.png');
  assert.equal(png.status, 200);
  assert.equal(png.type, 'image/png');
  assert.deepEqual([...png.body.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  for (const bad of ['64', '-1', '1.5', 'x']) assert.equal((await api(`/api/models/run/inputs/${bad}`)).status, 400, bad);
  assert.equal((await api('/api/models/run/inputs/64/image.png')).status, 400);
});

test('the same Deltas whether read from the sensitivity folder or computed by the explorer', async () => {
  const alone = await startExplorer({ folders: [fx.run], port: 0, limit: 64 });
  try {
    const a = (await api('/api/models/run/inputs/5')).body as InputDetail;
    const r = await fetch(new URL('/api/models/run/inputs/5', alone.url));
    const b = (await r.json()) as InputDetail;
    assert.equal(((await (await fetch(new URL('/api/catalog', alone.url))).json()) as Catalog).models[0]!.sensitivity, 'computed');
    const byNeuron = new Map(b.neurons.map((n) => [n.neuron, n.delta]));
    for (const n of a.neurons) {
      const other = byNeuron.get(n.neuron);
      if (n.delta === null) assert.equal(other, null);
      else assert.ok(Math.abs(n.delta - other!) <= 1e-4 * Math.max(1, Math.abs(n.delta)), `neuron ${n.neuron}: ${n.delta} vs ${other}`);
    }
  } finally {
    await alone.close();
  }
});

test('one neuron: distributions, top inputs, weights, top-k count and pruning', async () => {
  const { status, body } = await api('/api/models/run/neurons/7');
  assert.equal(status, 200);
  const n = body as NeuronDetail;
  assert.equal(n.neuron, 7);
  assert.equal(n.weights.length, 10);
  assert.equal(
    n.activationHistogram.counts.reduce((a, b) => a + b, 0),
    64,
  );
  assert.equal(n.deltaHistogram.counts.reduce((a, b) => a + b, 0) + n.infiniteDeltas, 64);
  const acts = n.topInputs.map((t) => t.activation);
  assert.deepEqual(
    acts,
    [...acts].sort((x, y) => y - x),
  );
  assert.equal(n.topKCount, n.summary!.topKCount);
  const right = ((await api('/api/models/run/inputs?correct=correct&limit=500')).body as InputPage).total;
  assert.equal(n.accuracy, right / 64);
  assert.ok(n.prunedAccuracy >= 0 && n.prunedAccuracy <= 1);
  // a neuron that is zero on every input prunes nothing; pruning some live one changes accuracy
  const all = await Promise.all(
    Array.from({ length: 32 }, async (_, j) => (await api(`/api/models/run/neurons/${j}`)).body as NeuronDetail),
  );
  const isDead = (d: NeuronDetail) => d.activationHistogram.edges.length === 2 && d.activationHistogram.edges[1] === 0;
  const dead = all.filter(isDead);
  assert.ok(dead.length > 0 && dead.length < 32, `the fixture model has dead and live neurons (${dead.length} dead)`);
  for (const d of dead) assert.equal(d.prunedAccuracy, d.accuracy, `dead neuron ${d.neuron}`);
  assert.ok(
    all.some((d) => !isDead(d) && d.prunedAccuracy !== d.accuracy),
    'pruning a live neuron changes accuracy',
  );
  for (const bad of ['32', '-1', 'a']) {
    const r = await api(`/api/models/run/neurons/${bad}`);
    assert.equal(r.status, 400, bad);
    assert.match(r.body.error, /neuron/);
  }
});

test('the scaled-Delta distribution of a model counts every (neuron, input) pair', async () => {
  const { status, body } = await api('/api/models/run/distribution');
  assert.equal(status, 200);
  const d = body as Distribution;
  assert.equal(d.sampled, 32 * 64);
  let infinite = 0;
  for (let f = 0; f < 32; f++) infinite += ((await api(`/api/models/run/neurons/${f}`)).body as NeuronDetail).infiniteDeltas;
  assert.equal(d.infinite, infinite);
  const shown = d.histogram.counts.reduce((a, b) => a + b, 0);
  const finite = d.sampled - d.infinite - d.constant;
  // the outer 0.5% on each side are left out
  assert.ok(shown <= finite && shown >= 0.99 * finite - 2, `${shown} of ${finite}`);
  assert.ok(d.range[0] <= d.range[1]);
  assert.equal((await api('/api/models/nope/distribution')).status, 404);
});

test('a live neuron attack runs in a worker and reports the neuron and the new prediction', async () => {
  const input = (await api('/api/models/run/inputs/0')).body as InputDetail;
  const neuron = input.neurons.find((n) => n.activation > 0 && n.delta !== null)!.neuron;
  const r = await post({ model: 'run', input: 0, attack: 'kns', neuron, norm: 'l2', eps: 2, iterations: 10 });
  assert.equal(r.status, 202);
  const job = await waitJob(r.body.id);
  assert.equal(job.state, 'done', job.error);
  assert.equal(job.progress, 1);
  const rec = job.outcome!.record as {
    neuron: number;
    cleanPrediction: number;
    adversarialPrediction: number;
    l2: number;
    success: boolean;
  };
  assert.equal(rec.neuron, neuron);
  assert.equal(rec.cleanPrediction, input.prediction);
  assert.ok(rec.l2 <= 2 + 1e-4);
  assert.equal(rec.adversarialPrediction, job.outcome!.probabilities.indexOf(Math.max(...job.outcome!.probabilities)));
  assert.equal(rec.success, rec.adversarialPrediction !== rec.cleanPrediction);
  assert.ok(job.outcome!.activation!.adversarial !== job.outcome!.activation!.clean, 'the neuron moved');
  for (const im of ['clean', 'adversarial', 'perturbation']) {
    const p = await api(`/api/attacks/${job.id}/${im}.png`);
    assert.equal(p.status, 200, im);
    assert.equal(p.type, 'image/png');
  }
  const pgd = await waitJob((await post({ model: 'run', input: 1, attack: 'pgd', norm: 'linf', eps: '8/255', iterations: 5 })).body.id);
  assert.equal(pgd.state, 'done', pgd.error);
  assert.ok(pgd.outcome!.record.linf <= 8 / 255 + 1e-6);
});

test('attack parameters are validated; a running attack can be cancelled', async () => {
  const ok = { model: 'run', input: 0, attack: 'kns', neuron: 0, norm: 'l2', eps: 1, iterations: 5 };
  const cases: [Record<string, unknown>, number, RegExp][] = [
    [{ ...ok, model: 'nope' }, 404, /no model/],
    [{ ...ok, input: 64 }, 400, /input/],
    [{ ...ok, neuron: 32 }, 400, /neuron/],
    [{ ...ok, eps: 0 }, 400, /eps/],
    [{ ...ok, eps: -1 }, 400, /eps/],
    [{ ...ok, eps: 1e9 }, 400, /eps/],
    [{ ...ok, norm: 'linf', eps: 2 }, 400, /eps/],
    [{ ...ok, eps: 'lots' }, 400, /eps must be a number/],
    [{ ...ok, iterations: 0 }, 400, /iterations/],
    [{ ...ok, iterations: 2.5 }, 400, /iterations/],
    [{ ...ok, norm: 'l1' }, 400, /norm/],
    [{ ...ok, attack: 'cw' }, 400, /attack/],
    [{ ...ok, attack: 'pgd' }, 400, /neuron applies/],
    [{ ...ok, neuron: undefined }, 400, /neuron/],
  ];
  for (const [body, status, msg] of cases) {
    const r = await post(body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.match(r.body.error, msg, JSON.stringify(body));
  }
  const notJson = await api('/api/attacks', { method: 'POST', body: '{' });
  assert.equal(notJson.status, 400);
  assert.equal((await api('/api/attacks', { method: 'POST', body: JSON.stringify([1]) })).status, 400);
  assert.equal((await api('/api/attacks/nope')).status, 404);
  assert.equal((await api('/api/attacks/nope/adversarial.png')).status, 404);

  // the long attack holds at its 20th pass (a worker copies the environment when it starts),
  // so it is still running whatever the machine's speed
  const pause = pauseAt('explore attack pass 20', join(fx.root, 'long-attack-pause'));
  Object.assign(process.env, pause.env);
  const long = await post({ ...ok, iterations: 1000 });
  for (const k of Object.keys(pause.env)) delete process.env[k];
  assert.equal(long.status, 202);
  // another tab attacks at the same time, and the server answers while the attack runs
  const other = await post({ ...ok, input: 1, iterations: 3 });
  assert.equal(other.status, 202);
  assert.equal((await api('/api/models/run/inputs/0')).status, 200);
  assert.equal((await api(`/api/attacks/${long.body.id}`)).body.state, 'running');
  // progress is reported while it runs
  for (;;) {
    const j = (await api(`/api/attacks/${long.body.id}`)).body as JobInfo;
    assert.equal(j.state, 'running');
    if (j.progress > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const c = await api(`/api/attacks/${long.body.id}`, { method: 'DELETE' });
  assert.equal(c.status, 200);
  assert.equal(c.body.state, 'cancelled');
  assert.ok(c.body.progress < 1);
  assert.equal((await api(`/api/attacks/${long.body.id}/adversarial.png`)).status, 404);
  assert.equal((await waitJob(other.body.id)).state, 'done');
  // the server still answers, and a new attack still runs
  const after = await waitJob((await post({ ...ok, iterations: 2 })).body.id);
  assert.equal(after.state, 'done', after.error);
});

test('an AutoAttack folder: each input shows which attack of the cascade fooled it, as its samples.csv says', async () => {
  const aa = join(fx.root, 'autoattack');
  const r = sauron([
    'attack',
    '--model',
    fx.run,
    '--attack',
    'autoattack',
    '--version',
    'custom',
    '--attacks',
    'apgd-ce,apgd-t',
    '--norm',
    'l2',
    '--eps',
    '1',
    '--limit',
    '24',
    '--out',
    aa,
  ]);
  assert.equal(r.status, 0, r.stderr);
  // samples.csv read here, apart from the explorer's reader
  const lines = readFileSync(join(aa, 'samples.csv'), 'utf8').trim().split('\n');
  const head = lines[0]!.split(',');
  const rows = lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((c, i) => [head[i]!, c])));
  assert.equal(rows.length, 24);
  const fooledBy = new Map(rows.map((x) => [Number(x.index), x.fooled_by || null]));
  assert.ok(
    [...fooledBy.values()].some((v) => v !== null),
    'the attacks fool some inputs at L2 eps 1',
  );
  const ex2 = await startExplorer({ folders: [fx.sens, aa], port: 0 });
  try {
    const get = async (path: string) => (await fetch(new URL(path, ex2.url))).json();
    const c = (await get('/api/catalog')) as Catalog;
    const info = c.models[0]!.attacks.find((a) => a.family === 'autoattack')!;
    const results = JSON.parse(readFileSync(join(aa, 'results.json'), 'utf8'));
    assert.deepEqual(
      [info.attack, info.version, info.norm, info.count, info.robustAccuracy],
      ['autoattack', 'custom', 'l2', 24, results.robustAccuracy],
    );
    for (let j = 0; j < 64; j++) {
      const d = (await get(`/api/models/run/inputs/${j}`)) as InputDetail;
      if (j >= 24) {
        assert.deepEqual([d.autoAttack, d.fooledAutoAttack], [[], null], `input ${j} was not attacked`);
        continue;
      }
      const x = rows[j]!;
      assert.equal(d.autoAttack.length, 1);
      const o = d.autoAttack[0]!;
      assert.equal(d.label, Number(x.label), `input ${j}: the explorer's input is samples.csv's`);
      assert.equal(o.fooledBy, fooledBy.get(j), `input ${j}`);
      assert.equal(o.outcome, x.fooled_by ? 'fooled' : x.label === x.clean_prediction ? 'robust' : 'misclassified', `input ${j}`);
      assert.equal(d.fooledAutoAttack, fooledBy.get(j) !== null);
    }
    const fooled = (await get('/api/models/run/inputs?fooled=autoattack&limit=500')) as InputPage;
    assert.deepEqual(
      fooled.items.map((i) => i.index),
      [...fooledBy].filter(([, v]) => v !== null).map(([i]) => i),
    );
    const neither = (await get('/api/models/run/inputs?fooled=neither&limit=500')) as InputPage;
    assert.ok(neither.items.every((i) => !i.fooledAutoAttack));
    assert.equal(neither.total + fooled.total, 64);
  } finally {
    await ex2.close();
  }
  // a damaged samples.csv is one line naming the file, the line and the column
  const bad = join(fx.root, 'autoattack-bad');
  cpSync(aa, bad, { recursive: true });
  writeFileSync(join(bad, 'samples.csv'), `${lines.map((l, k) => (k === 3 ? l.replace(/^\d+/, 'x') : l)).join('\n')}\n`);
  await assert.rejects(
    startExplorer({ folders: [fx.sens, bad], port: 0 }),
    /samples\.csv: line 4: index: expected a non-negative integer, got "x"/,
  );
});

test('files: only inside the given folders; traversal and escaping symlinks are refused', async () => {
  const ok = await api('/files/0/summary.json');
  assert.equal(ok.status, 200);
  assert.equal(ok.body.count, 64);
  assert.equal(await rawGet('/files/0/../secret.txt'), 404);
  assert.equal(await rawGet('/files/0/..%2fsecret.txt'), 404);
  assert.equal(await rawGet('/files/0/%2e%2e/secret.txt'), 404);
  assert.equal(await rawGet('/files/0/link.txt'), 404, 'a symlink out of the folder');
  assert.equal(await rawGet('/files/0/%00'), 404);
  assert.equal(await rawGet('/files/2/summary.json'), 404, 'no third folder');
  assert.equal(await rawGet('/files/x/summary.json'), 404);
  assert.equal(await rawGet('/ui/../package.json'), 404);
  assert.equal(await rawGet('/ui/..%2f..%2fpackage.json'), 404);
  assert.equal(await rawGet('/files/0/%E0%A4%A'), 400, 'bad percent-encoding');
  mkdirSync(join(fx.root, 'empty'));
  await assert.rejects(
    startExplorer({ folders: [join(fx.root, 'empty')], port: 0 }),
    /holds no run, sensitivity, attack or reproduce folder/,
  );
  await assert.rejects(startExplorer({ folders: [join(fx.root, 'missing')], port: 0 }), /is not a folder/);
});

test('sauron explore prints its address, serves, and stops on SIGTERM', async () => {
  const child = startSauron(['explore', fx.run, '--port', '0', '--limit', '32'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
    });
    const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(line)?.[1];
    assert.ok(url, line);
    const c = (await (await fetch(new URL('/api/catalog', url))).json()) as Catalog;
    assert.deepEqual(
      c.models.map((m) => [m.id, m.sensitivity]),
      [['run', 'computed']],
    );
    assert.equal(((await (await fetch(new URL('/api/models/run/inputs', url))).json()) as InputPage).total, 32);
    const code = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    assert.equal(await code, 0);
  } finally {
    child.kill('SIGKILL');
  }
  const bad = startSauron(['explore', join(fx.root, 'nothing-here')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr!.on('data', (d) => (err += d));
  assert.equal(await new Promise((r) => bad.once('exit', r)), 1);
  assert.match(err, /is not a folder/);
});
