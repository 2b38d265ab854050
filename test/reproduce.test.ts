// `sauron reproduce` on a tiny configuration: every output exists and parses, an interrupted
// run resumes without redoing finished steps and gives the same table, and the HTML report
// shows its table and figures in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reproduce } from '../src/index.js';
import { tinyReproduceSettings as tinySettings } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'sauron-repro-'));
const out = join(root, 'r');

test('a tiny reproduction writes Table 1, the figures and the reports; every file parses', async () => {
  const { report, timings } = await reproduce({ out, settings: tinySettings(), command: 'test' });
  assert.equal(report, join(out, 'report.html'));
  assert.equal(timings.length, 4 + 4 + 16 + 8 + 1);
  const csv = readFileSync(join(out, 'table1.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 5);
  assert.equal(csv[0], 'model,clean accuracy,L2 PGD,L2 1-NS,L2 2-NS,L2 4-NS,Linf PGD,Linf 1-NS,Linf 2-NS,Linf 4-NS');
  for (const row of csv.slice(1)) {
    const cells = row.split(',');
    assert.equal(cells.length, 10);
    for (const c of cells.slice(1)) assert.ok(Number(c) >= 0 && Number(c) <= 100, row);
  }
  assert.match(readFileSync(join(out, 'table1.md'), 'utf8'), /^\| model \| clean accuracy \|/);
  // every column on the same inputs: the clean accuracy of Table 1 is the one both attacks saw
  for (const kind of ['standard', 'l2', 'linf', 'sensitivity']) {
    const results = ['l2-pgd', 'l2-kns', 'linf-pgd', 'linf-kns'].map((a) => JSON.parse(readFileSync(join(out, 'attacks', kind, a, 'results.json'), 'utf8')));
    for (const r of results) {
      assert.equal(r.count, 12);
      assert.equal(r.cleanAccuracy, results[0].cleanAccuracy);
    }
    const row = csv.find((l) => l.startsWith(kind === 'standard' ? 'standard,' : kind === 'sensitivity' ? 'sensitivity-trained,' : `${kind === 'l2' ? 'L2' : 'Linf'} PGD`))!;
    assert.equal(Number(row.split(',')[1]), +(100 * results[0].cleanAccuracy).toFixed(1));
  }
  const sweep = readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n');
  assert.equal(sweep[0], 'model,norm,eps,attack,inputs,success_rate,success_rate_correct,robust_accuracy,active_targets,success_rate_active');
  assert.equal(sweep.length, 1 + 4 * 3 * 2);
  for (const l of sweep.slice(1)) {
    const c = l.split(',');
    assert.equal(c[4], '8');
    // the single-neuron rows split their 8 inputs' rank-1 targets; PGD rows have no targets
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
  const gallery = md.split('## Gallery')[1]!.split('## Figures')[0]!.split('\n').filter((l) => /^\| [^m-]/.test(l) && !l.startsWith('| model'));
  assert.equal(gallery.length, 12);
  for (const l of gallery) assert.match(l, /^\| [^|]+ \| [0-2] \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \(\d+\) \|$/);
  assert.match(md, /Budget sweep/);
  assert.match(md, /by target activity/);
  // each finding names its rates with intervals
  const fs = md.split('## Findings')[1]!.split('## Figures')[0]!.split('\n').filter((l) => l.startsWith('- '));
  assert.ok(fs.length >= 10);
  for (const l of fs) assert.match(l, /^- (Holds|Does not hold|Inconclusive): /);
  assert.match(html, /<table>/);
});

test('re-running skips finished steps; an interrupted step resumes and the table is unchanged', async () => {
  const before = readFileSync(join(out, 'table1.csv'), 'utf8');
  const again = await reproduce({ out, settings: tinySettings() });
  assert.ok(again.timings.every((t) => t.skipped), 'nothing is redone');
  assert.equal(readFileSync(join(out, 'table1.csv'), 'utf8'), before);
  // interrupted mid-step: the attack lost its results and its last batch; a step between
  // others lost its marker and outputs entirely
  const atk = join(out, 'attacks', 'linf', 'l2-pgd');
  rmSync(join(atk, 'results.json'));
  const lines = readFileSync(join(atk, 'progress.jsonl'), 'utf8').trim().split('\n');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(atk, 'progress.jsonl'), lines.slice(0, -1).join('\n') + '\n');
  rmSync(join(out, 'steps', 'sensitivity-l2.json'));
  rmSync(join(out, 'pruning'), { recursive: true });
  const resumed = await reproduce({ out, settings: tinySettings() });
  const rerun = resumed.timings.filter((t) => !t.skipped).map((t) => t.id).sort();
  assert.deepEqual(rerun, ['attack-linf-l2-pgd', 'pruning', 'sensitivity-l2']);
  assert.equal(readFileSync(join(out, 'table1.csv'), 'utf8'), before);
});

test('report.html shows the table and every figure in headless Chromium', { skip: !existsSync('/usr/bin/chromium') && 'Debian chromium is not installed (apt-get install chromium)' }, async () => {
  const { chromium } = await import('playwright-core');
  // playwright gives the browser a fresh temporary profile of its own
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`file://${join(out, 'report.html')}`);
    await page.waitForLoadState('load');
    // evaluated in the page (a string: this file is type-checked without DOM types)
    const state = await page.evaluate(`({
      images: Array.from(document.images).filter((i) => !i.classList.contains('gallery')).map((i) => ({ complete: i.complete, width: i.naturalWidth })),
      gallery: Array.from(document.querySelectorAll('img.gallery')).map((i) => i.complete && i.naturalWidth === 28).filter(Boolean).length,
      rows: document.querySelectorAll('table tr').length,
    })`) as { images: { complete: boolean; width: number }[]; gallery: number; rows: number };
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
  const { startExplorer } = await import('../src/index.js');
  const ex = await startExplorer({ folders: [out], port: 0 });
  try {
    const c = await (await fetch(new URL('/api/catalog', ex.url))).json() as import('../src/index.js').Catalog;
    assert.deepEqual(c.models.map((m) => m.id), ['standard', 'l2', 'linf', 'sensitivity']);
    for (const m of c.models) {
      assert.equal(m.sensitivity, 'folder');
      assert.deepEqual(m.attacks.map((a) => `${a.norm}-${a.attack}`), ['l2-kns', 'l2-pgd', 'linf-kns', 'linf-pgd']);
    }
    const r = c.reproduce[0]!;
    assert.deepEqual(r.table1, readFileSync(join(out, 'table1.csv'), 'utf8').trim().split('\n').map((l) => l.split(',')));
    assert.deepEqual(r.charts.map((x) => [x.name, x.error ?? null]), [['figure1', null], ['figure2', null], ['figure2-l2', null], ['sweep-l2', null], ['sweep-linf', null]]);
    for (const f of r.figures) assert.equal((await fetch(new URL(f.svg, ex.url))).status, 200, f.svg);
  } finally {
    await ex.close();
  }
});

test('sauron explore over the reproduction in headless Chromium: Table 1 and the five charts draw', { skip: !existsSync('/usr/bin/chromium') && 'Debian chromium is not installed (apt-get install chromium)' }, async () => {
  const { startExplorer } = await import('../src/index.js');
  const ex = await startExplorer({ folders: [out], port: 0 });
  try {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(ex.url);
      await page.waitForFunction(`document.querySelectorAll('.chart svg, .chart canvas').length === 5`);
      assert.equal(await page.locator('table').nth(1).locator('tr').count(), 5, 'Table 1');
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
