// Dataset examples in the page (CPU backend): the samples indexed and checked against the
// CLI's index of the same files; a channel's examples opened in the activations' zoom (their
// tiles show the indexed value at the indexed place); a generated folder of 200 images
// indexed, cancelled part way and resumed (only the rest is indexed); a reload finds the
// index kept in the browser and draws examples from the kept pictures; a zip as a set; an
// example opened in the app. Prints the page's images per second (BENCHMARKS.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, openPage, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();
const CLI = join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'release', 'convscope');
const PYTHON = process.env.CONVSCOPE_PYTHON || join(REPO, '.tools/py/bin/python');
const LAYER = 'blocks.10';

const ex = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.convscope.examples)));

async function indexSet(page, { cancelAt = null } = {}) {
  const runs = (await ex(page)).runs;
  await page.click('#index-run');
  if (cancelAt !== null) {
    await page.waitForFunction((n) => window.convscope.examples.done >= n, cancelAt, { timeout: 240_000 });
    await page.click('#index-cancel');
  }
  await page.waitForFunction((r) => window.convscope.examples.runs > r || window.convscope.examples.state === 'error', runs, { timeout: 600_000 });
  const got = await ex(page);
  assert.notEqual(got.state, 'error', got.error);
  return got;
}

async function chooseSet(page, name) {
  await page.selectOption('#set-select', name);
  await page.waitForFunction((n) => window.convscope.examples.set === n, name);
}

// Zoom channel `ch` of LAYER in the activations view and wait for its examples' tiles.
async function zoomExamples(page, ch) {
  await page.evaluate((l) => window.convscope.showLayer(l), LAYER);
  await page.evaluate(() => window.convscope.settle());
  await page.click(`.grid-col[data-slot="0"] .cell[data-channel="${ch}"]`);
  await page.waitForFunction((c) => {
    const s = window.convscope.examples.shown;
    return s && s.channel === c && s.top.length > 0 && s.tiles === s.top.length;
  }, ch, { timeout: 240_000 });
  return (await ex(page)).shown;
}

test('dataset examples: index the samples (as the CLI does), a 200-image folder with cancel and resume, a reload keeps the index, a zip (CPU)', { timeout: 1_500_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convscope-set-'));
  const folder = join(dir, 'set200');
  const zip = join(dir, 'twenty.zip');
  execFileSync(PYTHON, [join(REPO, 'tests/e2e/image_set.py'), folder, '200', zip, '20']);
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  await page.waitForFunction(() => window.convscope.examples.set === 'the bundled samples');

  // The samples, against the CLI's index of the same five files (every image is in each
  // channel's top 9: each image's peak is compared).
  const samples = await indexSet(page);
  assert.equal(samples.state, 'done');
  assert.equal(samples.count, 5);
  const out = mkdtempSync(join(tmpdir(), 'convscope-examples-'));
  const cli = JSON.parse(execFileSync(CLI, ['examples', '--model', 'efficientnet-lite0', '--layer', LAYER, '--channels', '0..8', '--top', '9', '--json', join(REPO, 'www/samples'), '-o', out], { cwd: REPO, env: { ...process.env, CONVSCOPE_WEIGHTS: join(REPO, 'weights') } }).toString());
  for (const want of cli.channels) {
    const got = await page.evaluate(([l, c]) => window.convscope.examples.channel(l, c), [LAYER, want.channel]);
    assert.equal(got.images, 5);
    assert.equal(got.top.length, 5);
    for (const w of want.top) {
      const g = got.top.find((e) => e.image === w.image);
      assert.ok(g, `${w.image} among channel ${want.channel}'s examples`);
      // PNGs decode to the same pixels in the browser and the CLI; JPEG decoders do not
      // (rocket.jpg's peaks at blocks.10 differ by up to ~13%): only its presence is checked,
      // and the channel's mean (over every image) is not compared.
      if (!w.image.endsWith('.png')) continue;
      assert.ok(Math.abs(g.value - w.value) <= 1e-3 * Math.max(1, Math.abs(w.value)), `channel ${want.channel}, ${w.image}: page ${g.value}, CLI ${w.value}`);
      assert.deepEqual([g.y, g.x, g.crop], [w.y, w.x, w.crop]);
    }
  }

  // A channel's examples in the zoom: best first, and each tile's map has the indexed value
  // at the indexed place (the set's own files: the same pixels as indexed).
  const shown = await zoomExamples(page, 3);
  assert.equal(shown.top.length, 5);
  for (let i = 1; i < shown.top.length; i++) assert.ok(shown.top[i - 1].value >= shown.top[i].value);
  shown.top.forEach((e, i) => assert.ok(Math.abs(shown.tileValues[i] - e.value) <= 1e-3 * Math.max(1, Math.abs(e.value)), `tile ${i}: ${shown.tileValues[i]} vs ${e.value}`));
  assert.equal(await page.locator('#zoom-examples .example canvas').count(), 5);

  // A folder of 200 generated images (and one text file named .jpg), cancelled part way.
  await page.setInputFiles('#set-folder', folder);
  await page.waitForFunction(() => window.convscope.examples.set === 'set200');
  const cancelled = await indexSet(page, { cancelAt: 40 });
  assert.equal(cancelled.state, 'cancelled');
  assert.ok(cancelled.count >= 40 && cancelled.count < 200, `kept ${cancelled.count}`);
  assert.match(await page.textContent('#index-status'), /Cancelled after \d+ of 201 images; what was indexed is kept/);
  // Resumed: only the rest is indexed.
  const resumed = await indexSet(page);
  assert.equal(resumed.state, 'done');
  assert.equal(resumed.total, 201 - cancelled.count);
  assert.equal(resumed.count, 200);
  assert.equal(resumed.skipped.length, 1);
  assert.match(resumed.skipped[0], /Could not read park\/notes\.jpg as an image/);
  assert.match(await page.textContent('#index-status'), /200 images of set200 indexed/);
  const rate = resumed.imagesPerSecond;
  console.log(`page indexing (CPU, ${LAYER} and every other feature-map layer): ${rate.toFixed(1)} images/s over ${resumed.total} images`);
  const folderShown = await zoomExamples(page, 5);
  assert.equal(folderShown.top.length, 9);

  // A reload: the index and the examples' pictures are still here; nothing is indexed again.
  await page.reload();
  await page.waitForFunction(() => window.convscope.runs > 0 && window.convscope.examples.set);
  assert.ok((await page.$$eval('#set-select option', (os) => os.map((o) => o.value))).includes('set200'));
  await chooseSet(page, 'set200');
  const kept = await ex(page);
  assert.equal(kept.count, 200);
  assert.equal(kept.runs, 0);
  assert.match(await page.textContent('#index-status'), /200 images of set200 indexed .*Open the folder or zip again/);
  const again = await zoomExamples(page, 5);
  assert.deepEqual(again.top, folderShown.top);
  assert.equal(again.tiles, 9);
  // The kept pictures are PNG copies at most 512 px a side: these images (300 px at most)
  // are kept whole, and their tiles show the indexed values.
  again.top.forEach((e, i) => assert.ok(Math.abs(again.tileValues[i] - e.value) <= 1e-3 * Math.max(1, Math.abs(e.value)), `kept tile ${i}: ${again.tileValues[i]} vs ${e.value}`));

  // An example opens in the app.
  const runs = await page.evaluate(() => window.convscope.runs);
  await page.click('#zoom-examples .example >> nth=0');
  await page.waitForFunction((r) => window.convscope.runs > r, runs);
  const name = await page.getAttribute('#image-canvas', 'aria-label');
  assert.ok(name.includes(again.top[0].image.split('/').pop()), name);

  // A zip of 20 of them is a set of its own.
  await page.setInputFiles('#set-zip', zip);
  await page.waitForFunction(() => window.convscope.examples.set === 'twenty');
  const zipped = await indexSet(page);
  assert.equal(zipped.count, 20);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});
