// The zoo in the page: three torchvision CNNs exported to ONNX (tests/onnx/zoo.py, random
// weights), each using what the bundled models do not: ShuffleNet v2 (channel shuffle:
// Reshape to [G, C/G, H, W], Transpose, Split/Slice), ConvNeXt-Tiny at opset 23
// (LayerNormalization, Gelu, MatMul on channels-last values) and Inception v3 at 299 px (its
// input transform: Gather of a channel, Unsqueeze, Concat). Each opens in the page on the CPU
// and every view works on it: the top-5 equal the CLI's, an activation map and a Grad-CAM map
// (at the layer found from the graph) equal the CLI's, a page of filter patterns is drawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, cliNpy, openPage, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();
const ZOO = process.env.CONVSCOPE_ZOO_PAGE;
const CLI = join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'release', 'convscope');
const IMAGE = 'www/samples/chelsea.png';

const MODELS = [
  { file: 'torchscript-17/shufflenet_v2_x1_0.onnx', size: 224 },
  { file: 'torchscript-23/convnext_tiny.op23.onnx', size: 224 },
  { file: 'torchscript-17/inception_v3.onnx', size: 299 },
];

const cli = (args) => JSON.parse(execFileSync(CLI, [...args, '--json'], { cwd: REPO, maxBuffer: 64 << 20 }).toString());
const counters = (page) => page.evaluate(() => [window.convscope.runs, window.convscope.failures]);

for (const { file, size } of MODELS) {
  const name = file.split('/').pop();
  const missing = !ZOO ? 'CONVSCOPE_ZOO_PAGE is not set (./build.sh test sets it)' : !existsSync(join(ZOO, file)) && `${join(ZOO, file)} is missing`;
  test(`${name} in the page (CPU): top-5, activations, Grad-CAM and patterns equal to the CLI's`, { timeout: 900_000, skip: missing }, async () => {
    const model = join(ZOO, file);
    const { layers, input } = cli(['layers', '--model', model]);
    assert.deepEqual(input, [3, size, size]);
    const { page, consoleErrors, requests } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
    const seen = requests.length;
    const before = await counters(page);
    await page.setInputFiles('#onnx-input', model);
    await page.waitForFunction(([runs, failures]) => window.convscope.runs > runs || window.convscope.failures > failures, before, { timeout: 600_000 });
    assert.equal(await page.evaluate(() => window.convscope.error), null);
    assert.match(await page.$eval('#model-select', (s) => s.value), /^onnx:/);

    // The prediction, as the CLI's.
    const top = await page.evaluate(() => window.convscope.lastTop);
    const want = cli(['predict', '--model', model, IMAGE]).top;
    assert.deepEqual(top.map((p) => p.index), want.map((p) => p.index));
    for (let i = 0; i < 5; i++) {
      assert.ok(Math.abs(top[i].logit - want[i].logit) <= 1e-3 * Math.max(1, Math.abs(want[i].logit)), `logit ${i}: ${top[i].logit} vs ${want[i].logit}`);
    }

    // Grad-CAM at the layer the graph gives, as the CLI's.
    const att = await page.evaluate(() => window.convscope.explain({ method: 'gradcam', score: false }));
    const pane = att.panes[0];
    const camLayer = cli(['cam', '--model', model, '--method', 'gradcam', IMAGE]).layer;
    assert.equal(pane.layer, camLayer);
    const [camShape, cam] = cliNpy(['cam', '--model', model, '--method', 'gradcam', IMAGE, '--npy', '{npy}']);
    assert.deepEqual([pane.height, pane.width], camShape);
    const camScale = Math.max(...cam, 1e-12);
    const camDiff = pane.raw.reduce((m, v, i) => Math.max(m, Math.abs(v - cam[i])), 0);
    assert.ok(camDiff <= 2e-3 * camScale, `Grad-CAM differs from the CLI by ${camDiff} (max ${camScale})`);

    // The activations of that layer, as the CLI's.
    await page.evaluate((l) => window.convscope.showLayer(l), camLayer);
    const view = await page.evaluate(() => window.convscope.layerView);
    assert.equal(view.layer, camLayer);
    const values = await page.evaluate(() => window.convscope.layerValues(0));
    const [shape, act] = cliNpy(['activations', '--model', model, '--layer', camLayer, IMAGE, '--npy', '{npy}']);
    assert.deepEqual([view.total, view.height, view.width], shape);
    const actScale = act.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);
    const actDiff = values.reduce((m, v, i) => Math.max(m, Math.abs(v - act[i])), 0);
    assert.ok(actDiff <= 1e-4 * actScale, `activations differ from the CLI by ${actDiff} (max ${actScale})`);

    // Filter patterns of the first layer with feature maps: a page of pictures.
    const first = layers.find((l) => l.shape.length === 3);
    // The page's thread can be busy for tens of seconds here: the attention view scores its
    // map on it while on screen (issue 17), and Inception at 299 px takes that long on a
    // loaded 2-core machine. Each action waits for it.
    const busy = { timeout: 300_000 };
    await page.locator('#patterns-panel').scrollIntoViewIfNeeded(busy);
    await page.selectOption('#pattern-layer', first.id, busy);
    await page.selectOption('#pattern-steps', '16', busy);
    await page.selectOption('#pattern-size', '64', busy);
    await page.click('#pattern-run', busy);
    await page.waitForFunction(() => ['done', 'error'].includes(window.convscope.patterns.state), null, { timeout: 600_000 });
    const p = await page.evaluate(() => window.convscope.patterns);
    assert.equal(p.state, 'done', p.error);
    assert.equal(p.own.length, Math.min(16, first.shape[0]));

    assert.deepEqual(requests.slice(seen).filter((u) => !u.startsWith(shared.server.url)), [], 'nothing is sent anywhere');
    assert.deepEqual(consoleErrors, []);
    await page.close();
  });
}
