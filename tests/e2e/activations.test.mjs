// The activations view in headless Chromium: chelsea's `stem` shows 32 maps whose values are
// the CLI's `convscope activations --npy` output, a map zooms, coffee joins side by side on
// the same scale and zooms too; keyboard, paging, ranking, normalisation and PNG export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cliNpy, openPage, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();

/** The CLI's activations of `layer` on a sample, as [shape, Float32Array]. */
const cliActivations = (layer, image) => cliNpy(['activations', '--model', 'efficientnet-lite0', '--layer', layer, `www/samples/${image}`, '--npy', '{npy}']);

async function waitForLayer(page, layer, images = 1) {
  await page.waitForFunction(([l, n]) => {
    const v = window.convscope.layerView;
    return window.convscope.error || (v && v.layer === l && v.images.length === n);
  }, [layer, images], { timeout: 240_000 });
  assert.equal(await page.evaluate(() => window.convscope.error), null);
}

const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const channelMax = (values, c, plane) => values.slice(c * plane, (c + 1) * plane).reduce((m, v) => Math.max(m, v), -Infinity);

async function canvasSpread(page, selector) {
  return page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i + 1]); hi = Math.max(hi, d[i + 1]); }
    return hi - lo;
  });
}

test('chelsea: stem shows 32 maps equal to the CLI activations; zoom; coffee side by side (WebGPU)', { timeout: 900_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=webgpu`);
  assert.equal(await page.evaluate(() => window.convscope.backend), 'webgpu');
  await waitForLayer(page, 'stem');
  // Pick stem from the list (via another layer, so the menu's change event fires).
  await page.selectOption('#layer-select', 'blocks.0');
  await waitForLayer(page, 'blocks.0');
  await page.selectOption('#layer-select', 'stem');
  await waitForLayer(page, 'stem');
  const option = await page.$eval('#layer-select', (s) => s.selectedOptions[0].textContent);
  assert.match(option, /stem — conv2d\+relu6 — 32×112×112/, 'the list shows kind and shape');
  assert.equal(await page.locator('.grid-col[data-slot="0"] .cell').count(), 32, '32 maps');
  assert.ok(await canvasSpread(page, '.grid-col[data-slot="0"] canvas.paint') > 100, 'the maps are painted');

  // The values the grid was coloured from are the model's activations.
  const [shape, want] = cliActivations('stem', 'chelsea.png');
  assert.deepEqual(shape, [32, 112, 112]);
  const got = await page.evaluate(() => window.convscope.layerValues(0));
  assert.equal(got.length, want.length);
  const diff = maxAbsDiff(got, want);
  assert.ok(diff < 2e-3, `WebGPU page vs CLI (CPU): max difference ${diff}`);

  await page.click('.grid-col[data-slot="0"] .cell[data-channel="5"]');
  await page.waitForSelector('#zoom-panel:not([hidden])');
  assert.equal(await page.locator('.zoom-canvas').count(), 1);
  assert.match(await page.textContent('#zoom-title'), /Channel 5 of stem/);
  assert.match(await page.textContent('#zoom-figures'), /max [\d.]+ · mean [\d.]+ · \d+% active/);

  await page.selectOption('#compare-select', 'coffee.png');
  await waitForLayer(page, 'stem', 2);
  assert.equal(await page.locator('.grid-col[data-slot="1"] .cell').count(), 32, 'coffee shows the same 32 channels');
  assert.match(await page.textContent('.grid-col[data-slot="1"] h3'), /coffee\.png — espresso/);
  assert.equal(await page.locator('.zoom-canvas').count(), 2, 'the zoom shows both images');
  assert.ok(await canvasSpread(page, '.zoom-canvas[data-slot="0"]') > 50 && await canvasSpread(page, '.zoom-canvas[data-slot="1"]') > 50, 'both zooms drawn');
  // Same scale: each channel's scale covers both images' values.
  const [a, b, scales] = await page.evaluate(() => [window.convscope.layerValues(0), window.convscope.layerValues(1), window.convscope.layerView.scales]);
  const [coffeeShape, coffee] = cliActivations('stem', 'coffee.png');
  assert.deepEqual(coffeeShape, [32, 112, 112]);
  assert.ok(maxAbsDiff(b, coffee) < 2e-3, 'coffee values are the CLI activations too');
  for (let c = 0; c < 32; c++) {
    const both = Math.max(channelMax(a, c, 112 * 112), channelMax(b, c, 112 * 112));
    assert.ok(Math.abs(scales[c].hi - both) < 1e-5 && scales[c].lo === 0, `channel ${c}: scale ${JSON.stringify(scales[c])} vs max ${both}`);
  }
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('keyboard, paging, ranking, per-layer scale, flat layers and PNG export (CPU)', { timeout: 900_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  await waitForLayer(page, 'stem');
  // Keyboard: arrows move between maps, Enter zooms.
  await page.focus('.grid-col[data-slot="0"] .cell[tabindex="0"]');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  const cols = await page.evaluate(() => {
    const cells = [...document.querySelectorAll('.grid-col[data-slot="0"] .cell')];
    return cells.filter((c) => c.offsetTop === cells[0].offsetTop).length;
  });
  await page.keyboard.press('ArrowDown');
  const focused = await page.evaluate(() => document.activeElement.dataset.channel);
  assert.equal(Number(focused), 2 + cols, `down moves one row of ${cols}`);
  assert.match(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), /^channel \d+ on chelsea\.png: max [\d.]+, mean [\d.e-]+, \d+% active$/);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#zoom-panel:not([hidden])');
  assert.match(await page.textContent('#zoom-title'), new RegExp(`Channel ${2 + cols} of stem`));
  await page.check('#overlay-toggle');
  assert.match(await page.getAttribute('.zoom-canvas', 'aria-label'), /over the image/);

  // Export the grid and the zoom as PNG.
  for (const [button, name] of [['#export-grid', /^convscope-efficientnet-lite0-stem\.png$/], ['#export-zoom', /^convscope-efficientnet-lite0-stem-channel\d+\.png$/]]) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
    assert.match(download.suggestedFilename(), name);
    const bytes = readFileSync(await download.path());
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    assert.ok(bytes.readUInt32BE(16) > 300 && bytes.readUInt32BE(20) > 300, 'of a real size');
  }

  // The head has 1280 channels: pages of 128.
  await page.selectOption('#layer-select', 'head');
  await waitForLayer(page, 'head');
  assert.equal(await page.locator('.grid-col[data-slot="0"] .cell').count(), 128);
  assert.match(await page.textContent('#page-text'), /channels 1–128 of 1280/);
  await page.click('#page-next');
  await page.waitForFunction(() => window.convscope.layerView.channels[0] === 128);
  assert.match(await page.textContent('#page-text'), /channels 129–256 of 1280/);
  // Ranked by max: strongest first, across the whole layer.
  await page.selectOption('#rank-select', 'max');
  await page.waitForFunction(() => window.convscope.layerView.channels[0] !== 0 || window.convscope.error);
  const [values, channels] = await page.evaluate(() => [window.convscope.layerValues(0), window.convscope.layerView.channels]);
  const maxes = channels.map((_, i) => channelMax(values, i, 49));
  assert.ok(maxes.every((m, i) => i === 0 || m <= maxes[i - 1]), 'ranked by max, descending');
  const [, head] = cliActivations('head', 'chelsea.png');
  const best = Array.from({ length: 1280 }, (_, c) => channelMax(head, c, 49));
  assert.equal(channels[0], best.indexOf(Math.max(...best)), 'the first is the strongest channel of all 1280');
  // One scale for the layer.
  await page.selectOption('#norm-select', 'layer');
  await page.waitForFunction(() => new Set(window.convscope.layerView.scales.map((s) => s.hi)).size === 1);
  // A flat, signed layer: one-unit maps on a diverging colormap.
  await page.selectOption('#layer-select', 'logits');
  await waitForLayer(page, 'logits');
  const lv = await page.evaluate(() => window.convscope.layerView);
  assert.deepEqual([lv.total, lv.height, lv.width, lv.colormap], [1000, 1, 1, 'coolwarm']);
  assert.ok(lv.scales[0].lo < 0 && lv.scales[0].lo === -lv.scales[0].hi, 'symmetric about zero');
  assert.deepEqual(consoleErrors, []);
  await page.close();
});
