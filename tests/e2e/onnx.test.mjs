// Bring your own model: an ONNX CNN exported from PyTorch (tests/onnx/export.py's small CNN,
// random weights) opened in the page. Its layers are listed by their ONNX names, its top-5
// equals the CLI's on the same image, an activation grid and a Grad-CAM map are drawn (the
// map equals the CLI's), a labels file names the classes, the preprocessing form is
// remembered, a broken file gives a message and the page keeps working, and nothing is sent
// anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, cliNpy, openPage, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();
const REFS = process.env.CONVSCOPE_ONNX_REFS;
const CLI = join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'release', 'convscope');

async function waitRun(page, before) {
  await page.waitForFunction(([runs, failures]) => window.convscope.runs > runs || window.convscope.failures > failures, before, { timeout: 240_000 });
}

const counters = (page) => page.evaluate(() => [window.convscope.runs, window.convscope.failures]);

test('an exported ONNX CNN: layers, top-5, activations and Grad-CAM in the page (CPU)', { timeout: 600_000, skip: !REFS && 'CONVSCOPE_ONNX_REFS is not set (./build.sh test sets it)' }, async () => {
  const model = join(REFS, 'small.onnx');
  const { page, consoleErrors, requests } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  const seen = requests.length;

  // A file that is not a model: a message, and the bundled model keeps working.
  const dir = mkdtempSync(join(tmpdir(), 'convscope-onnx-'));
  writeFileSync(join(dir, 'broken.onnx'), Buffer.from('this is not a protobuf file at all'));
  let before = await counters(page);
  await page.setInputFiles('#onnx-input', join(dir, 'broken.onnx'));
  await page.waitForFunction((f) => window.convscope.failures > f, before[1], { timeout: 60_000 });
  const message = await page.evaluate(() => window.convscope.error);
  assert.match(message, /broken\.onnx.*ONNX/, message);
  assert.equal(await page.$eval('#model-select', (s) => s.value), 'efficientnet-lite0');
  assert.equal(await page.$eval('#onnx-form', (f) => f.hidden), true);

  // The real export.
  before = await counters(page);
  await page.setInputFiles('#onnx-input', model);
  await waitRun(page, before);
  assert.equal(await page.evaluate(() => window.convscope.error), null);
  assert.equal(await page.$eval('#model-select', (s) => s.value), 'onnx:small');
  assert.equal(await page.$eval('#onnx-form', (f) => f.hidden), false);
  const layers = await page.$$eval('#layer-select option', (o) => o.map((x) => x.value));
  // Node names; a conv followed by its activation shows as one layer named after the latter.
  for (const id of ['/Sub', '/Div', '/LeakyRelu', '/Tanh', '/Concat', '/bn/BatchNormalization', '/ReduceMean', '/Mul', '/AveragePool', '/fc/Gemm']) {
    assert.ok(layers.includes(id), `layer ${id} is listed: ${layers.join(', ')}`);
  }
  const top = await page.evaluate(() => window.convscope.lastTop);
  assert.equal(top.length, 5);
  const cli = JSON.parse(execFileSync(CLI, ['predict', '--model', model, 'www/samples/chelsea.png', '--json'], { cwd: REPO }).toString());
  assert.deepEqual(top.map((p) => p.index), cli.top.map((p) => p.index));
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(top[i].logit - cli.top[i].logit) < 1e-3 * Math.max(1, Math.abs(cli.top[i].logit)), `logit ${i}: ${top[i].logit} vs ${cli.top[i].logit}`);
  assert.equal(top[0].label, `class ${top[0].index}`);

  // An activation grid of an ONNX layer.
  await page.evaluate(() => window.convscope.showLayer('/Tanh'));
  const view = await page.evaluate(() => window.convscope.layerView);
  assert.equal(view.layer, '/Tanh');
  assert.deepEqual([view.total, view.height, view.width], [8, 16, 16]);
  const values = await page.evaluate(() => window.convscope.layerValues(0));
  const [shape, act] = cliNpy(['activations', '--model', model, '--layer', '/Tanh', 'www/samples/chelsea.png', '--npy', '{npy}']);
  assert.deepEqual(shape, [8, 16, 16]);
  const actDiff = values.reduce((m, v, i) => Math.max(m, Math.abs(v - act[i])), 0);
  assert.ok(actDiff < 1e-4, `activations differ from the CLI by ${actDiff}`);

  // Grad-CAM at the layer found from the graph (the last map larger than 1x1).
  const att = await page.evaluate(() => window.convscope.explain({ method: 'gradcam', score: false }));
  const pane = att.panes[0];
  assert.equal(pane.layer, '/AveragePool');
  const [camShape, cam] = cliNpy(['cam', '--model', model, '--method', 'gradcam', 'www/samples/chelsea.png', '--npy', '{npy}']);
  assert.deepEqual([pane.height, pane.width], camShape);
  const scale = Math.max(...cam, 1e-12);
  const camDiff = pane.raw.reduce((m, v, i) => Math.max(m, Math.abs(v - cam[i])), 0);
  assert.ok(camDiff <= 2e-3 * scale, `Grad-CAM differs from the CLI by ${camDiff} (max ${scale})`);

  // Labels name the classes; a preset changes the input (and the prediction).
  writeFileSync(join(dir, 'labels.txt'), Array.from({ length: 10 }, (_, i) => `thing ${i}`).join('\n'));
  before = await counters(page);
  await page.setInputFiles('#onnx-labels', join(dir, 'labels.txt'));
  await waitRun(page, before);
  const named = await page.evaluate(() => window.convscope.lastTop);
  assert.equal(named[0].label, `thing ${named[0].index}`);
  before = await counters(page);
  await page.selectOption('#onnx-preset', 'zero-one');
  await waitRun(page, before);
  assert.equal(await page.$eval('#onnx-mean', (i) => i.value), '0, 0, 0');
  const zeroOne = await page.evaluate(() => window.convscope.lastTop);
  const cli01 = JSON.parse(execFileSync(CLI, ['predict', '--model', model, 'www/samples/chelsea.png', '--json', '--mean', '0', '--std', '255'], { cwd: REPO }).toString());
  assert.deepEqual(zeroOne.map((p) => p.index), cli01.top.map((p) => p.index));
  assert.ok(Math.abs(zeroOne[0].logit - cli01.top[0].logit) < 1e-3 * Math.max(1, Math.abs(cli01.top[0].logit)));

  // Filter patterns: the worker imports the same file with the same preprocessing.
  await page.locator('#patterns-panel').scrollIntoViewIfNeeded();
  await page.selectOption('#pattern-layer', '/Tanh');
  await page.selectOption('#pattern-steps', '16');
  await page.selectOption('#pattern-size', '64');
  await page.click('#pattern-run');
  await page.waitForFunction(() => ['done', 'error'].includes(window.convscope.patterns.state), null, { timeout: 300_000 });
  const p = await page.evaluate(() => window.convscope.patterns);
  assert.equal(p.state, 'done', p.error);
  assert.equal(p.own.length, 8, 'one pattern per channel of /Tanh');
  const cells = await page.evaluate(() => [...document.querySelectorAll('#pattern-grid canvas')].map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i], d[i + 1], d[i + 2]); hi = Math.max(hi, d[i], d[i + 1], d[i + 2]); }
    return hi - lo;
  }));
  assert.equal(cells.length, 8);
  assert.ok(cells.every((r) => r > 20), `every pattern is a picture (value ranges ${cells})`);

  // A second model goes beside the first: both are in the menu, each predicts as the CLI does,
  // and choosing the first again brings back its preprocessing and labels.
  const second = join(REFS, 'mobilenet_v2.onnx');
  before = await counters(page);
  await page.setInputFiles('#onnx-input', second);
  await waitRun(page, before);
  assert.equal(await page.evaluate(() => window.convscope.error), null);
  const imported = await page.$$eval('#model-select option[data-onnx]', (o) => o.map((x) => x.value));
  assert.deepEqual(imported, ['onnx:small', 'onnx:mobilenet_v2']);
  assert.equal(await page.$eval('#model-select', (s) => s.value), 'onnx:mobilenet_v2');
  const cliSecond = JSON.parse(execFileSync(CLI, ['predict', '--model', second, 'www/samples/chelsea.png', '--json'], { cwd: REPO }).toString());
  assert.deepEqual((await page.evaluate(() => window.convscope.lastTop)).map((p) => p.index), cliSecond.top.map((p) => p.index));
  before = await counters(page);
  await page.selectOption('#model-select', 'onnx:small');
  await waitRun(page, before);
  const back = await page.evaluate(() => window.convscope.lastTop);
  assert.deepEqual(back.map((p) => [p.index, p.label]), zeroOne.map((p) => [p.index, `thing ${p.index}`]));
  assert.equal(await page.$eval('#onnx-mean', (i) => i.value), '0, 0, 0');

  // Remembered: the same file opened after a reload comes back with [0, 1] and its labels.
  await page.reload();
  await page.waitForFunction(() => window.convscope && window.convscope.runs > 0, null, { timeout: 240_000 });
  before = await counters(page);
  await page.setInputFiles('#onnx-input', model);
  await waitRun(page, before);
  assert.equal(await page.$eval('#onnx-preset', (s) => s.value), 'zero-one');
  assert.match(await page.evaluate(() => window.convscope.lastTop[0].label), /^thing \d$/);

  // Nothing the user opened went anywhere: no request after the page's own files.
  const after = requests.slice(seen).filter((u) => !u.startsWith(shared.server.url));
  assert.deepEqual(after, []);
  assert.deepEqual(consoleErrors.filter((e) => !/broken\.onnx|not a readable ONNX/.test(e)), []);
  await page.close();
});
