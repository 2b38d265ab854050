// The explorer in headless Chromium (Debian's, as the report test): open an input of a small
// trained model, run a neuron attack, see the adversarial image and its prediction
// appear, open a neuron page, and check the screenshots are not blank.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { startExplorer, type RunningExplorer } from '../../src/index.js';
import { exploreFixture, type ExploreFixture } from '../support/exploreFixture.js';

const chromiumPath = '/usr/bin/chromium';

/** Largest per-channel standard deviation of a PNG's pixels: about 0 for a blank page. */
async function pixelSpread(png: string): Promise<number> {
  const { channels } = await sharp(png).stats();
  return Math.max(...channels.slice(0, 3).map((c) => c.stdev));
}

test('input page: a live neuron attack shows the adversarial image and prediction; neuron page renders', {
  skip: !existsSync(chromiumPath) && 'Debian chromium is not installed (apt-get install chromium)',
}, async () => {
  let fx: ExploreFixture | undefined;
  let ex: RunningExplorer | undefined;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath,
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
    fx = await exploreFixture();
    ex = await startExplorer({ folders: [fx.sens, fx.attack], port: 0 });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    page.on('pageerror', (e) => failed.push(e.message));
    // anything not served by the explorer itself would be a CDN: refuse it
    await page.route(
      (url) => !url.href.startsWith(ex!.url),
      (r) => {
        failed.push(r.request().url());
        return r.abort();
      },
    );

    await page.goto(`${ex.url}#/inputs/run`);
    await page.waitForSelector('.grid .cell img');
    await page.click('.grid .cell >> nth=2');
    await page.waitForSelector('#a-run');
    assert.match(page.url(), /#\/input\/run\/2$/);
    await page.fill('#a-eps', '2');
    await page.fill('#a-iter', '20');
    const neuron = await page.inputValue('#a-neuron');
    await page.click('#a-run');
    // no time limit of ours (0 lifts Playwright's default 30 s): the attack takes what it takes
    await page.waitForSelector('#adv-pred', { timeout: 0 });
    await page.waitForFunction(
      `(() => { const i = document.getElementById('adv-img'); return i && i.complete && i.naturalWidth === 28; })()`,
    );
    const text = await page.textContent('#attack-result');
    assert.match(text!, new RegExp(`neuron ${neuron} \\(rank \\d+\\)`));
    assert.match(text!, /(reached|did not reach) its target/);
    assert.match(text!, /(Fooled|Not fooled)/);
    const pred = (await page.textContent('#adv-pred'))!.trim();
    assert.ok(
      ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'].includes(pred),
      pred,
    );
    // the charts drew (vega renders svg or canvas)
    await page.waitForSelector('#probs canvas, #probs svg');
    const inputShot = join(fx.root, 'input.png');
    await page.screenshot({ path: inputShot });
    assert.ok((await pixelSpread(inputShot)) > 20, 'the input page is not blank');
    if (process.env.SAURON_EXPLORE_SCREENSHOT) copyFileSync(inputShot, process.env.SAURON_EXPLORE_SCREENSHOT);

    await page.click(`a[href="#/neuron/run/${neuron}"]`);
    await page.waitForSelector('#pruned');
    await page.waitForSelector('#delta-hist canvas, #delta-hist svg');
    await page.waitForSelector('#weights canvas, #weights svg');
    assert.match((await page.textContent('h1'))!, new RegExp(`Neuron ${neuron} of run`));
    assert.equal(await page.locator('.grid .cell img').count(), 12);
    const neuronShot = join(fx.root, 'neuron.png');
    await page.screenshot({ path: neuronShot, fullPage: true });
    assert.ok((await pixelSpread(neuronShot)) > 20, 'the neuron page is not blank');
    await page.goto(`${ex.url}#/compare?a=run&b=run&input=2`);
    await page.waitForFunction(`document.querySelectorAll('.dist svg, .dist canvas').length === 2`);
    assert.equal(await page.locator('.side table').count(), 2);
    assert.deepEqual(failed, []);
  } finally {
    await browser.close();
    await ex?.close();
    if (fx && !process.env.SAURON_KEEP_TEST_OUTPUT) rmSync(fx.root, { recursive: true, force: true });
  }
});
