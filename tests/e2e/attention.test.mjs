// The attention view in headless Chromium: chelsea's Grad-CAM for its top-1 is the CLI's raw
// map, drawn over the image with its peak on the cat and scored against a random map; two
// methods side by side, a contrast, the raw map, PNG export, the randomization check, and
// the message for a constant map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliNpy, openPage, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();

/** Mean brightness of the canvas over map cell (row, col) of an h x w map. */
function cellBrightness({ width, height, rgba }, [row, col], [h, w]) {
  let sum = 0, n = 0;
  for (let y = Math.floor((row * height) / h); y < Math.floor(((row + 1) * height) / h); y++) {
    for (let x = Math.floor((col * width) / w); x < Math.floor(((col + 1) * width) / w); x++) {
      const i = 4 * (y * width + x);
      sum += rgba[i] + rgba[i + 1] + rgba[i + 2];
      n++;
    }
  }
  return sum / n;
}

test('chelsea: Grad-CAM for the top-1 equals the CLI, is drawn over the image with its peak on the cat, and beats a random map (WebGPU)', { timeout: 900_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=webgpu`);
  assert.equal(await page.evaluate(() => window.convscope.backend), 'webgpu');
  const top = await page.evaluate(() => window.convscope.lastTop[0]);
  const att = await page.evaluate(() => window.convscope.explain({ method: 'gradcam' }));
  assert.equal(await page.evaluate(() => window.convscope.error), null);
  const r = att.panes[0];
  assert.equal(r.method.id, 'gradcam');
  assert.equal(r.layer, 'head');
  assert.equal(r.target.class, top.index, 'the default target is the top-1');
  assert.deepEqual([r.height, r.width], [7, 7]);
  assert.equal(r.constant, false);

  const [shape, cli] = cliNpy(['cam', '--model', 'efficientnet-lite0', '--method', 'gradcam', 'www/samples/chelsea.png', '--npy', '{npy}']);
  assert.deepEqual(shape, [7, 7]);
  const scale = Math.max(...cli);
  const diff = r.raw.reduce((m, v, i) => Math.max(m, Math.abs(v - cli[i])), 0);
  assert.ok(diff < 2e-3 * scale, `WebGPU page vs CLI (CPU): max difference ${diff} of ${scale}`);

  // The peak is on the cat (its face fills the middle and the left of the image), and the
  // overlay is hotter there than where the map is lowest.
  const [py, px] = r.peak;
  assert.ok(py >= 1 && py <= 5 && px <= 4, `peak at ${r.peak}`);
  const low = r.raw.indexOf(Math.min(...r.raw));
  const pixels = await page.evaluate(() => window.convscope.camPixels(0));
  assert.deepEqual([pixels.width, pixels.height], [448, 448]);
  const hot = cellBrightness(pixels, r.peak, [7, 7]);
  const cold = cellBrightness(pixels, [Math.floor(low / 7), low % 7], [7, 7]);
  assert.ok(hot > cold + 60, `overlay brightness at the peak ${hot} vs the minimum ${cold}`);

  const { ours, random } = r.scores;
  assert.ok(ours.deletion_auc < random.deletion_auc, `deletion ${ours.deletion_auc} vs random ${random.deletion_auc}`);
  assert.ok(ours.insertion_auc > random.insertion_auc, `insertion ${ours.insertion_auc} vs random ${random.insertion_auc}`);
  assert.ok(Math.abs(ours.deletion[0] - ours.probability) < 1e-3 && Math.abs(ours.probability - top.prob) < 1e-3);
  assert.match(await page.textContent('.cam-pane[data-pane="0"] .cam-scores'), /Deletion AUC: 0\.\d+ \(random map 0\.\d+; lower is better\)/);
  await page.locator('#attention-panel').screenshot({ path: '/tmp/convscope-attention-webgpu.png' });
  assert.deepEqual(consoleErrors, []);
});

test('two methods side by side, a contrast, the raw map, export, the sanity check, a constant map (CPU)', { timeout: 900_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  const tops = await page.evaluate(() => window.convscope.lastTop);
  let att = await page.evaluate(() => window.convscope.explain({ method: 'layercam', method2: 'occlusion' }));
  assert.equal(await page.evaluate(() => window.convscope.error), null);
  assert.deepEqual([att.panes[0].height, att.panes[1].height], [7, 224], 'LayerCAM at head, occlusion at the input');
  assert.ok(await page.isVisible('.cam-pane[data-pane="1"] canvas'));
  for (const p of att.panes) assert.ok(p.raw.every((v) => Number.isFinite(v) && v >= 0));

  // The raw map: drawn at its own resolution, as blocks (7x7 cells of one colour).
  await page.check('#raw-toggle');
  const raw = await page.evaluate(() => window.convscope.camPixels(0));
  const at = (x, y) => raw.rgba.slice(4 * (y * raw.width + x), 4 * (y * raw.width + x) + 3).join();
  assert.equal(at(2, 2), at(60, 60), 'one cell, one colour');
  await page.uncheck('#raw-toggle');

  // Export: both maps with their scores side by side.
  await page.click('#export-attention');
  await page.waitForFunction(() => window.convscope.lastExport?.filename.includes('layercam-vs-occlusion'));
  const exp = await page.evaluate(() => window.convscope.lastExport);
  assert.ok(exp.width >= 2 * 448 && exp.height > 448 && exp.bytes > 10_000, JSON.stringify(exp));

  // A contrast: the top-1 rather than the second class.
  att = await page.evaluate(([a, b]) => window.convscope.explain({ method: 'gradcam', target: a, against: b }), [tops[0].index, tops[1].index]);
  assert.deepEqual(att.panes[0].target, { kind: 'contrast', class: tops[0].index, against: tops[1].index });
  assert.ok(att.panes[0].label.includes(' vs '));

  // The randomization check: Grad-CAM decorrelates.
  att = await page.evaluate(() => window.convscope.explain({ method: 'gradcam' }));
  await page.evaluate(() => window.convscope.sanity());
  const [report] = await page.evaluate(() => window.convscope.attention.sanity);
  assert.equal(report.flagged, false);
  assert.ok(Math.abs(report.steps.at(-1).rho) < 0.5, JSON.stringify(report.steps));
  assert.match(await page.textContent('#sanity-result'), /passed/);

  // The digit CNN on coffee: Grad-CAM for its top-1 is zero everywhere after the ReLU.
  await page.selectOption('#model-select', 'digit-cnn');
  await page.waitForFunction(() => window.convscope.attention.panes[0]?.height === 3, null, { timeout: 120_000 });
  await page.click('[data-sample="coffee.png"]');
  await page.waitForFunction(() => window.convscope.lastTop?.[0].index === 9 && window.convscope.attention.panes[0]?.constant, null, { timeout: 120_000 });
  assert.ok(await page.isVisible('.cam-pane[data-pane="0"] .cam-message'));
  assert.match(await page.textContent('.cam-pane[data-pane="0"] .cam-message'), /constant/);
  const blank = await page.evaluate(() => window.convscope.camPixels(0));
  assert.ok(blank.width > 0 && blank.rgba.some((v, i) => i % 4 !== 3 && v > 0), 'the canvas still shows the image');
  assert.deepEqual(consoleErrors, []);
});
