// `sauron reproduce` on a tiny configuration: every output exists and parses, an interrupted
// run resumes without redoing finished steps and gives the same table, and the HTML report
// shows its table and figures in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reproduce } from '../../src/index.js';
import { tinyReproduceSettings as tinySettings } from '../support/helpers.js';
import type { ReproduceSettings } from '../../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'sauron-repro-'));
const out = join(root, 'r');
const KINDS = ['standard', 'l2', 'linf', 'sensitivity'] as const;
const TITLES = { standard: 'standard', l2: 'L2 PGD-trained', linf: 'Linf PGD-trained', sensitivity: 'sensitivity-trained' };

/** The toy reproduction; its AutoAttack (whose APGD runs 500 iterations on every robust input) on the first 6 of its 12 inputs. */
function settings(): ReproduceSettings {
  return { ...tinySettings(), autoattack: { version: 'custom', attacks: ['apgd-ce'], inputs: 6 } };
}

/** What the AutoAttack columns are headed with, from the settings: the version, or a custom version's attacks, and the inputs. */
function aaLabel(): string {
  const a = settings().autoattack;
  return `${a.version === 'custom' ? a.attacks!.join('+') : a.version} (first ${a.inputs} inputs)`;
}

const readJson = (...p: string[]) => JSON.parse(readFileSync(join(...p), 'utf8'));

/** An attack folder's samples.csv read here, one object per line keyed by the header. */
function samples(dir: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(join(dir, 'samples.csv'), 'utf8').trim().split('\n');
  const h = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [h[i]!, v])));
}

/** An AutoAttack step's inputs: robust as RobustBench counts it (correct, and no attack fooled it). */
function robustFlags(dir: string): Map<number, boolean> {
  return new Map(samples(dir).map((c) => [Number(c.index), c.label === c.clean_prediction && c.fooled_by === '']));
}

test('a tiny reproduction writes Table 1, the figures and the reports; every file parses', async () => {
  const { report, timings } = await reproduce({ out, settings: settings(), command: 'test' });
  assert.equal(report, join(out, 'report.html'));
  // per model: 4 PGD / k-NS attacks and 2 AutoAttack runs
  assert.equal(timings.length, 4 + 4 + 4 * 6 + 8 + 1);
  const csv = readFileSync(join(out, 'table1.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 5);
  const aa = aaLabel();
  assert.equal(
    csv[0],
    'model,clean accuracy,L2 PGD,L2 1-NS,L2 2-NS,L2 4-NS,Linf PGD,Linf 1-NS,Linf 2-NS,Linf 4-NS,' +
      `L2 AutoAttack ${aa} robust accuracy,Linf AutoAttack ${aa} robust accuracy,L2 AutoAttack checks fired,Linf AutoAttack checks fired`,
  );
  for (const row of csv.slice(1)) {
    const cells = row.split(',');
    assert.equal(cells.length, 14);
    for (const c of cells.slice(1, 12)) assert.ok(c !== '' && Number(c) >= 0 && Number(c) <= 100, row);
  }
  assert.match(readFileSync(join(out, 'table1.md'), 'utf8'), /^\| model \| clean accuracy \|/);
  // every column on the same inputs: the clean accuracy of Table 1 is the one both attacks saw
  for (const kind of ['standard', 'l2', 'linf', 'sensitivity']) {
    const results = ['l2-pgd', 'l2-kns', 'linf-pgd', 'linf-kns'].map((a) =>
      JSON.parse(readFileSync(join(out, 'attacks', kind, a, 'results.json'), 'utf8')),
    );
    for (const r of results) {
      assert.equal(r.count, 12);
      assert.equal(r.cleanAccuracy, results[0].cleanAccuracy);
    }
    const row = csv.find((l) =>
      l.startsWith(
        kind === 'standard' ? 'standard,' : kind === 'sensitivity' ? 'sensitivity-trained,' : `${kind === 'l2' ? 'L2' : 'Linf'} PGD`,
      ),
    )!;
    assert.equal(Number(row.split(',')[1]), +(100 * results[0].cleanAccuracy).toFixed(1));
  }
  const sweep = readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n');
  assert.equal(
    sweep[0],
    'model,norm,eps,attack,inputs,success_rate,success_rate_correct,robust_accuracy,active_targets,success_rate_active',
  );
  assert.equal(sweep.length, 1 + 4 * 3 * 2);
  for (const l of sweep.slice(1)) {
    const c = l.split(',');
    assert.equal(c[4], '8');
    // the 1-NS rows split their 8 inputs' rank-1 targets; PGD rows have no targets
    if (c[3] === 'pgd') assert.equal(c[8], '');
    else assert.ok(Number(c[8]) >= 0 && Number(c[8]) <= 8, l);
  }
  for (const f of ['figure1', 'figure2', 'figure2-l2', 'figure3', 'sweep-l2', 'sweep-linf', 'pruning']) {
    const png = readFileSync(join(out, `${f}.png`));
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], f);
    assert.ok(statSync(join(out, `${f}.png`)).size > 5000, f);
    assert.match(readFileSync(join(out, `${f}.svg`), 'utf8'), /<svg/);
  }
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  const links = [...md.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
  assert.ok(links.length >= 4);
  for (const l of links) assert.ok(existsSync(join(out, l)), `report link ${l} resolves`);
  assert.match(md, /## Findings/);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  // 7 figures and the gallery: 4 models x 3 inputs x (clean, PGD, 1-NS)
  assert.equal((html.match(/<img alt="[^"]*" src="data:image\/png;base64,/g) ?? []).length, 7);
  assert.equal((html.match(/<img class="gallery" alt="[^"]*" src="data:image\/png;base64,/g) ?? []).length, 36);
  const gallery = md
    .split('## Gallery')[1]!
    .split('## Figures')[0]!
    .split('\n')
    .filter((l) => /^\| [^m-]/.test(l) && !l.startsWith('| model'));
  assert.equal(gallery.length, 12);
  for (const l of gallery) assert.match(l, /^\| [^|]+ \| [0-2] \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \(\d+\) \|$/);
  assert.match(md, /Budget sweep/);
  assert.match(md, /by target activity/);
  // each finding names its rates with intervals
  const fs = md
    .split('## Findings')[1]!
    .split('## Figures')[0]!
    .split('\n')
    .filter((l) => l.startsWith('- '));
  assert.ok(fs.length >= 10);
  for (const l of fs) assert.match(l, /^- (Holds|Does not hold|Inconclusive): /);
  assert.match(html, /<table>/);
});

test("Table 1's AutoAttack columns are the AutoAttack steps' results; the report says what ran; the finding pairs the models by input", () => {
  const csv = readFileSync(join(out, 'table1.csv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));
  const head = csv[0]!;
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  const flags: Record<string, Map<number, boolean>> = {};
  let fired = 0;
  for (const kind of KINDS) {
    const row = csv.find((r) => r[0] === TITLES[kind])!;
    for (const [norm, N] of [
      ['l2', 'L2'],
      ['linf', 'Linf'],
    ] as const) {
      const dir = join(out, 'attacks', kind, `${norm}-autoattack`);
      const r = readJson(dir, 'results.json');
      // Table 1's first inputs, their true labels and clean predictions: those PGD saw
      assert.equal(r.count, 6);
      const pgd = samples(join(out, 'attacks', kind, `${norm}-pgd`))
        .slice(0, 6)
        .map((c) => [c.index, c.label, c.clean_prediction]);
      assert.deepEqual(
        samples(dir).map((c) => [c.index, c.label, c.clean_prediction]),
        pgd,
      );
      assert.equal(r.attack.eps, settings().budgets[norm]);
      const f = robustFlags(dir);
      flags[`${kind}-${norm}`] = f;
      assert.equal(f.size, 6);
      assert.equal(r.robustAccuracy, [...f.values()].filter(Boolean).length / 6, "results.json counts samples.csv's robust inputs");
      assert.ok(r.robustAccuracy <= r.cleanAccuracy);
      assert.equal(
        Number(row[head.indexOf(`${N} AutoAttack ${aaLabel()} robust accuracy`)]),
        +(100 * r.robustAccuracy).toFixed(1),
        `${kind} ${norm}`,
      );
      const ids = r.checks.filter((c: { fired: boolean }) => c.fired).map((c: { id: string }) => c.id);
      fired += ids.length;
      assert.equal(row[head.indexOf(`${N} AutoAttack checks fired`)], ids.join(' '));
      assert.ok(readJson(out, 'steps', `attack-${kind}-${norm}-autoattack.json`).seconds > 0, 'a step of its own, timed');
      // what ran, with its settings, is in the report
      for (const p of r.attack.attacks) {
        const name = { 'apgd-ce': 'APGD-CE', 'apgd-t': 'APGD-T', 'fab-t': 'FAB-T', square: 'Square' }[p.attack as string]!;
        assert.ok(md.includes(`${name} (`), name);
        if (p.iterations) assert.match(md, new RegExp(`${name} \\([^)]*${p.iterations} iterations`));
        if (p.queries) assert.match(md, new RegExp(`${name} \\(${p.queries} queries`));
      }
    }
  }
  // one marker per fired check in Table 1
  assert.equal(
    (readFileSync(join(out, 'table1.md'), 'utf8').match(/ \[\d+(, \d+)*\] \|/g) ?? []).join('').match(/\d+/g)?.length ?? 0,
    fired,
  );
  const fs = md
    .split('## Findings')[1]!
    .split('## Gallery')[0]!
    .split('\n')
    .filter((l) => l.startsWith('- '));
  for (const [norm, N] of [
    ['l2', 'L2'],
    ['linf', 'Linf'],
  ] as const) {
    for (const [line, a, b] of [
      [fs.find((l) => l.includes(`lower ${N} PGD success survives AutoAttack`)), 'sensitivity', 'standard'],
      [fs.find((l) => l.includes(`${N} PGD-trained model has higher ${N} AutoAttack robust accuracy`)), norm, 'sensitivity'],
    ] as const) {
      assert.ok(line, `${N}: ${a} vs ${b}`);
      const fa = flags[`${a}-${norm}`]!;
      const fb = flags[`${b}-${norm}`]!;
      const diff = (100 * ([...fa.values()].filter(Boolean).length - [...fb.values()].filter(Boolean).length)) / 6;
      const m = /paired difference (-?[\d.]+) points \[(-?[\d.]+), (-?[\d.]+)\]/.exec(line)!;
      assert.ok(m, line);
      const [d, lo, hi] = m.slice(1).map(Number) as [number, number, number];
      assert.ok(Math.abs(d - diff) < 0.051, line);
      assert.ok(lo <= d && d <= hi, line);
      assert.match(line, lo > 0 ? /^- Holds/ : hi < 0 ? /^- Does not hold/ : /^- Inconclusive/);
    }
  }
});

test('a fired check puts a marker on its cell, its line under Table 1 and a word in the finding; a changed run changes its cell and the finding', async () => {
  const copy = join(root, 'flagged');
  cpSync(out, copy, { recursive: true });
  // the sensitivity-trained model's Linf run, rewritten: inputs 0-2 robust, a check fired
  const dir = join(copy, 'attacks', 'sensitivity', 'linf-autoattack');
  const rows = samples(dir).map((c, i) =>
    i < 3
      ? { ...c, clean_prediction: c.label, fooled_by: '', adversarial_prediction: c.label }
      : { ...c, fooled_by: c.label === c.clean_prediction ? 'apgd-ce' : '' },
  );
  writeFileSync(
    join(dir, 'samples.csv'),
    `${[Object.keys(rows[0]!).join(','), ...rows.map((c) => Object.values(c).join(','))].join('\n')}\n`,
  );
  const file = join(dir, 'results.json');
  const r = readJson(file);
  const check = r.checks.find((c: { id: string }) => c.id === 'zero-gradient');
  Object.assign(check, { fired: true, message: 'the input gradient is zero for 3 of 12 inputs (test)' });
  r.robustAccuracy = 0.5;
  writeFileSync(file, JSON.stringify(r));
  const again = await reproduce({ out: copy, settings: settings() });
  assert.ok(again.timings.every((t) => t.skipped));
  const md = readFileSync(join(copy, 'table1.md'), 'utf8');
  const row = md.split('\n').find((l) => l.startsWith('| sensitivity-trained '))!;
  const notes = (t: string) => t.split('\n').filter((l) => /^- \[\d+\] /.test(l));
  assert.equal(notes(md).length, notes(readFileSync(join(out, 'table1.md'), 'utf8')).length + 1);
  const note = notes(md).find((l) =>
    l.endsWith('sensitivity-trained, Linf, check zero-gradient: the input gradient is zero for 3 of 12 inputs (test)'),
  );
  assert.ok(note, md);
  const n = /^- \[(\d+)\]/.exec(note)![1]!;
  // the Linf AutoAttack cell is the row's last
  const marker = /\[([\d, ]+)\] \|$/.exec(row);
  assert.ok(marker && marker[1]!.split(', ').includes(n), row);
  const csv = readFileSync(join(copy, 'table1.csv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));
  const csvRow = csv.find((l) => l[0] === 'sensitivity-trained')!;
  const original = readFileSync(join(out, 'table1.csv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','))
    .find((l) => l[0] === 'sensitivity-trained')!;
  assert.equal(csvRow.at(-1), 'zero-gradient');
  assert.equal(csvRow[csv[0]!.indexOf(`Linf AutoAttack ${aaLabel()} robust accuracy`)], '50.0');
  assert.deepEqual(csvRow.slice(0, -3), original.slice(0, -3), 'the other cells are unchanged');
  const report = readFileSync(join(copy, 'report.md'), 'utf8');
  const finding = report.split('\n').find((l) => l.includes('lower Linf PGD success survives AutoAttack'))!;
  assert.match(finding, /Checks fired \(see Table 1's notes\): sensitivity-trained: zero-gradient/);
  // 3 of 6 robust against the standard model's own count, paired by input
  const std = [...robustFlags(join(copy, 'attacks', 'standard', 'linf-autoattack')).values()].filter(Boolean).length;
  const m = /paired difference (-?[\d.]+) points \[(-?[\d.]+), (-?[\d.]+)\]/.exec(finding)!;
  assert.ok(Math.abs(Number(m[1]) - (100 * (3 - std)) / 6) < 0.051, finding);
  assert.match(finding, Number(m[2]) > 0 ? /^- Holds/ : Number(m[3]) < 0 ? /^- Does not hold/ : /^- Inconclusive/);
});

test('the paired interval of a difference: the published example, and the unpaired interval when the outcomes are uncorrelated', async () => {
  const { pairedRateDifference } = await import('../../src/reproduce/pairedDifference.js');
  const { rateDifference } = await import('../../src/reports/intervals.js');
  // Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), chapter 8: Cavo et al. (2012), 59 / 6 / 16 / 80
  const cavo = pairedRateDifference({ both: 59, onlyFirst: 6, onlySecond: 16, neither: 80 });
  assert.equal(cavo.difference.toFixed(4), '-0.0621');
  assert.deepEqual(
    cavo.interval.map((x) => x.toFixed(4)),
    ['-0.1186', '-0.0046'],
  );
  // both * neither = onlyFirst * onlySecond: no correlation, Newcombe's interval for independent rates
  const flat = pairedRateDifference({ both: 12, onlyFirst: 6, onlySecond: 24, neither: 12 });
  const indep = rateDifference(18, 54, 36, 54);
  assert.ok(Math.abs(flat.interval[0] - indep.interval[0]) < 1e-12 && Math.abs(flat.interval[1] - indep.interval[1]) < 1e-12);
  // positively correlated outcomes: narrower than the unpaired interval
  const corr = pairedRateDifference({ both: 30, onlyFirst: 2, onlySecond: 8, neither: 60 });
  const un = rateDifference(32, 100, 38, 100);
  assert.ok(corr.interval[1] - corr.interval[0] < un.interval[1] - un.interval[0]);
});

test('re-running skips finished steps; an interrupted step resumes and the table is unchanged', async () => {
  const before = readFileSync(join(out, 'table1.csv'), 'utf8');
  const again = await reproduce({ out, settings: settings() });
  assert.ok(
    again.timings.every((t) => t.skipped),
    'nothing is redone',
  );
  assert.equal(readFileSync(join(out, 'table1.csv'), 'utf8'), before);
  // interrupted mid-step: the attack lost its results and its last batch; a step between
  // others lost its marker and outputs entirely
  const atk = join(out, 'attacks', 'linf', 'l2-pgd');
  rmSync(join(atk, 'results.json'));
  const lines = readFileSync(join(atk, 'progress.jsonl'), 'utf8').trim().split('\n');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(atk, 'progress.jsonl'), `${lines.slice(0, -1).join('\n')}\n`);
  rmSync(join(out, 'steps', 'sensitivity-l2.json'));
  // an AutoAttack step interrupted after its batches: it resumes from its progress to the same numbers
  rmSync(join(out, 'attacks', 'l2', 'linf-autoattack', 'results.json'));
  rmSync(join(out, 'pruning'), { recursive: true });
  const resumed = await reproduce({ out, settings: settings() });
  const rerun = resumed.timings
    .filter((t) => !t.skipped)
    .map((t) => t.id)
    .sort();
  assert.deepEqual(rerun, ['attack-l2-linf-autoattack', 'attack-linf-l2-pgd', 'pruning', 'sensitivity-l2']);
  assert.equal(readFileSync(join(out, 'table1.csv'), 'utf8'), before);
});

test('report.html shows the table and every figure in headless Chromium', {
  skip: !existsSync('/usr/bin/chromium') && 'Debian chromium is not installed (apt-get install chromium)',
}, async () => {
  const { chromium } = await import('playwright-core');
  // playwright gives the browser a fresh temporary profile of its own
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`file://${join(out, 'report.html')}`);
    await page.waitForLoadState('load');
    // evaluated in the page (a string: this file is type-checked without DOM types)
    const state = (await page.evaluate(`({
      images: Array.from(document.images).filter((i) => !i.classList.contains('gallery')).map((i) => ({ complete: i.complete, width: i.naturalWidth })),
      gallery: Array.from(document.querySelectorAll('img.gallery')).map((i) => i.complete && i.naturalWidth === 28).filter(Boolean).length,
      rows: document.querySelectorAll('table tr').length,
    })`)) as { images: { complete: boolean; width: number }[]; gallery: number; rows: number };
    assert.equal(state.images.length, 7);
    assert.equal(state.gallery, 36, 'every gallery image decodes');
    for (const im of state.images) assert.ok(im.complete && im.width > 100, JSON.stringify(im));
    assert.ok(state.rows >= 5);
    const shot = join(root, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 20000);
  } finally {
    await browser.close();
  }
});

test('sauron explore over the reproduction: its models, Table 1 and the figures as interactive charts', async () => {
  const { startExplorer } = await import('../../src/index.js');
  const ex = await startExplorer({ folders: [out], port: 0 });
  try {
    const c = (await (await fetch(new URL('/api/catalog', ex.url))).json()) as import('../../src/explore/index.js').Catalog;
    assert.deepEqual(
      c.models.map((m) => m.id),
      ['standard', 'l2', 'linf', 'sensitivity'],
    );
    for (const m of c.models) {
      assert.equal(m.sensitivity, 'folder');
      assert.deepEqual(
        m.attacks.map((a) => `${a.norm}-${a.attack}`),
        ['l2-autoattack', 'l2-kns', 'l2-pgd', 'linf-autoattack', 'linf-kns', 'linf-pgd'],
      );
    }
    const r = c.reproduce[0]!;
    assert.deepEqual(
      r.table1,
      readFileSync(join(out, 'table1.csv'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(',')),
    );
    assert.deepEqual(
      r.charts.map((x) => [x.name, x.error ?? null]),
      [
        ['figure1', null],
        ['figure2', null],
        ['figure2-l2', null],
        ['sweep-l2', null],
        ['sweep-linf', null],
      ],
    );
    for (const f of r.figures) assert.equal((await fetch(new URL(f.svg, ex.url))).status, 200, f.svg);
    // each input shows which AutoAttack stage fooled it, as the step's samples.csv says
    const d = (await (
      await fetch(new URL('/api/models/sensitivity/inputs/0', ex.url))
    ).json()) as import('../../src/explore/index.js').InputDetail;
    const first = (norm: string) =>
      readFileSync(join(out, 'attacks', 'sensitivity', `${norm}-autoattack`, 'samples.csv'), 'utf8')
        .split('\n')[1]!
        .split(',');
    assert.deepEqual(
      d.autoAttack.map((a) => [a.norm, a.fooledBy ?? '']),
      [
        ['l2', first('l2')[3]],
        ['linf', first('linf')[3]],
      ],
    );
  } finally {
    await ex.close();
  }
});

test('sauron explore over the reproduction in headless Chromium: Table 1 and the five charts draw', {
  skip: !existsSync('/usr/bin/chromium') && 'Debian chromium is not installed (apt-get install chromium)',
}, async () => {
  const { startExplorer } = await import('../../src/index.js');
  const ex = await startExplorer({ folders: [out], port: 0 });
  try {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(ex.url);
      await page.waitForFunction(`document.querySelectorAll('.chart svg, .chart canvas').length === 5`);
      assert.equal(await page.locator('table').nth(1).locator('tr').count(), 5, 'Table 1');
      // an input's page says which AutoAttack stage fooled it (or that none did)
      await page.goto(`${ex.url}#/input/sensitivity/0`);
      await page.waitForSelector('.aa-outcome');
      const lines = await page.locator('.aa-outcome').allTextContents();
      const stage = (norm: string) =>
        readFileSync(join(out, 'attacks', 'sensitivity', `${norm}-autoattack`, 'samples.csv'), 'utf8')
          .split('\n')[1]!
          .split(',')[3]!;
      const names: Record<string, string> = { 'apgd-ce': 'APGD-CE', 'apgd-t': 'APGD-T', 'fab-t': 'FAB-T', square: 'Square' };
      assert.equal(lines.length, 2);
      for (const [i, norm] of (['l2', 'linf'] as const).entries()) {
        assert.match(lines[i]!, stage(norm) ? new RegExp(`fooled by ${names[stage(norm)]}$`) : /(robust|misclassified clean)/, lines[i]);
      }
    } finally {
      await browser.close();
    }
  } finally {
    await ex.close();
  }
});

test.after(() => {
  if (!process.env.SAURON_KEEP_TEST_OUTPUT) rmSync(root, { recursive: true, force: true });
  else console.log(`kept ${root}: ${readdirSync(root).join(', ')}`);
});
