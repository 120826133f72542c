// The page in headless Chromium: EfficientNet-Lite0 on WebGPU (software adapter) and on the
// CPU fallback gives the reference top-5 for the sample images, both backends agree on the
// logits, bad input gets a message in the page, and nothing is loaded from other origins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { launchBrowser, openPage, pickSample, sharedBrowser } from './harness.mjs';

const reference = JSON.parse(await readFile(new URL('../data/reference_top5.json', import.meta.url)));
const IMAGES = ['chelsea.png', 'coffee.png', 'camera.png', 'rocket.jpg'];
const shared = await sharedBrowser();
const logitsByBackend = {};

for (const backend of ['webgpu', 'cpu']) {
  test(`EfficientNet-Lite0 on ${backend} gives the reference top-5`, { timeout: 900_000 }, async () => {
    const { page, consoleErrors, requests } = await openPage(shared.browser.context, `${shared.server.url}?backend=${backend}&fit=center-crop`);
    const state = await page.evaluate(() => ({ backend: window.convscope.backend, error: window.convscope.error, top: window.convscope.lastTop }));
    assert.equal(state.error, null, `page error: ${state.error}`);
    assert.equal(state.backend, backend, 'the page runs on the backend asked for');
    const status = await page.textContent('#status');
    assert.match(status, backend === 'webgpu' ? /WebGPU/ : /CPU/, 'the page says which backend it uses');
    // chelsea loads first: its top-1 is a cat.
    assert.ok(state.top[0].index >= 281 && state.top[0].index <= 285, `chelsea top-1 ${JSON.stringify(state.top[0])}`);
    logitsByBackend[backend] = {};
    for (const image of IMAGES) {
      const { top, error } = image === 'chelsea.png' ? { top: state.top, error: null } : await pickSample(page, image);
      assert.equal(error, null, `${image}: ${error}`);
      const want = reference[image].f16.map((e) => e[0]);
      assert.deepEqual(top.map((p) => p.index), want, `${backend} ${image}: ${JSON.stringify(top)}`);
      logitsByBackend[backend][image] = await page.evaluate(() => window.convscope.logits());
    }
    const shown = await page.$$eval('#top5 li', (lis) => lis.map((li) => Number(li.dataset.index)));
    assert.deepEqual(shown, reference['rocket.jpg'].f16.map((e) => e[0]), 'the drawn list is the prediction');
    const foreign = requests.filter((u) => !u.startsWith(shared.server.url) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(foreign, [], 'nothing is loaded from other origins');
    assert.deepEqual(consoleErrors, [], 'no console errors');
    await page.close();
  });
}

test('logits agree across WebGPU and the CPU to 1e-3', () => {
  assert.ok(logitsByBackend.webgpu && logitsByBackend.cpu, 'both backends ran');
  for (const image of IMAGES) {
    const a = logitsByBackend.webgpu[image], b = logitsByBackend.cpu[image];
    assert.equal(a.length, 1000);
    const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    assert.ok(diff < 1e-3, `${image}: max logit difference ${diff}`);
  }
});

test('auto takes the CPU over a software WebGPU adapter, says why, and WebGPU can still be forced', { timeout: 600_000 }, async () => {
  // Headless Chromium's WebGPU adapter here is a software one (SwiftShader or Mesa's).
  const { page, consoleErrors, requests } = await openPage(shared.browser.context, shared.server.url);
  const state = await page.evaluate(() => ({ backend: window.convscope.backend, note: window.convscope.note }));
  assert.equal(state.backend, 'cpu');
  // The WebGPU build (pkg-webgpu/) is fetched only for a WebGPU engine.
  const webgpuBuild = () => requests.filter((u) => u.includes('/pkg-webgpu/')).map((u) => u.split('/').pop()).sort();
  assert.deepEqual(webgpuBuild(), [], 'auto on the CPU fetches no WebGPU build');
  assert.match(state.note, /^auto chose the CPU: the (WebGPU adapter is (SwiftShader|llvmpipe|lavapipe)|browser marks its WebGPU adapter as a fallback)/);
  assert.match(await page.textContent('#status'), /on the CPU \(auto chose the CPU: .*choose WebGPU to use it anyway\)/);
  const forced = await page.evaluate(async () => {
    const rt = await import('./runtime.js');
    return { decided: await rt.decide('webgpu'), backend: (await rt.engine('webgpu')).backend };
  });
  assert.deepEqual(forced, { decided: { backend: 'webgpu', note: 'WebGPU was chosen' }, backend: 'webgpu' });
  assert.deepEqual(webgpuBuild(), ['convscope_web.js', 'convscope_web_bg.wasm'], 'forcing WebGPU fetches its build, once');
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('a file that is not an image gets a clear message and the page keeps working', { timeout: 600_000 }, async () => {
  const { page } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  await page.setInputFiles('#file-input', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('this is not a PNG') });
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /Could not read notes\.png as an image/);
  // Any later action that succeeds clears it (here: another layer of the activations).
  const layers = await page.evaluate(() => [...document.getElementById('layer-select').options].map((o) => o.value));
  await page.selectOption('#layer-select', layers[2]);
  await page.waitForSelector('#error', { state: 'hidden' });
  await page.setInputFiles('#file-input', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('this is not a PNG') });
  await page.waitForSelector('#error:not([hidden])');
  const { top, error } = await pickSample(page, 'coffee.png');
  assert.equal(error, null);
  assert.equal(top[0].index, 967, 'espresso after the bad file');
  assert.equal(await page.isHidden('#error'), true, 'the message goes once a good image is shown');
  await page.close();
});

test('the image and model file inputs are reached and opened with the keyboard alone', { timeout: 600_000 }, async () => {
  const { page } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  await page.focus('#model-select');
  const reached = [];
  for (let i = 0; i < 12 && reached.length < 2; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => document.activeElement.id);
    if (['onnx-input', 'file-input'].includes(id)) reached.push(id);
  }
  assert.deepEqual(reached, ['onnx-input', 'file-input'], 'Tab reaches the model and the image file inputs');
  // Space opens the chooser. Headless Chromium has been seen to drop that key once after a
  // long run of pages: a second press of the same key is the one retry.
  const open = (timeout) => Promise.all([page.waitForEvent('filechooser', { timeout }), page.keyboard.press('Space')]).then(([c]) => c);
  const chooser = await open(20_000).catch(() => open(60_000));
  assert.equal(await chooser.element().evaluate((e) => e.id), 'file-input', 'Space opens the image chooser');
  const before = await page.evaluate(() => window.convscope.runs);
  await chooser.setFiles({ name: 'mine.png', mimeType: 'image/png', buffer: await readFile(new URL('../../www/samples/coffee.png', import.meta.url)) });
  await page.waitForFunction((n) => window.convscope.runs > n, before);
  assert.equal(await page.evaluate(() => window.convscope.lastTop[0].index), 967);
  await page.close();
});

test('a dropped image file is classified', { timeout: 600_000 }, async () => {
  const { page } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu&image=camera.png`);
  const bytes = await readFile(new URL('../../www/samples/coffee.png', import.meta.url));
  const before = await page.evaluate(() => window.convscope.runs);
  const dataTransfer = await page.evaluateHandle((b64) => {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bin], 'my-coffee.png', { type: 'image/png' }));
    return dt;
  }, bytes.toString('base64'));
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer });
  await page.waitForFunction((n) => window.convscope.runs > n, before);
  const top = await page.evaluate(() => window.convscope.lastTop);
  assert.equal(top[0].index, 967);
  await page.close();
});

test('the digit model reads a digit drawn on the pad', { timeout: 600_000 }, async () => {
  const { page } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu&model=digit-cnn`);
  assert.equal(await page.isVisible('#draw-canvas'), true, 'the pad shows for the digit model');
  const box = await page.locator('#draw-canvas').boundingBox();
  const before = await page.evaluate(() => window.convscope.runs);
  // A "7": a bar across the top, then a stroke down to the bottom left.
  await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.22);
  await page.mouse.down();
  for (const [fx, fy] of [[0.5, 0.22], [0.75, 0.22], [0.62, 0.5], [0.5, 0.8]]) {
    await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy, { steps: 8 });
  }
  await page.mouse.up();
  await page.waitForFunction((n) => window.convscope.runs > n, before);
  const top = await page.evaluate(() => window.convscope.lastTop);
  assert.equal(top[0].label, '7', JSON.stringify(top));
  await page.close();
});

test('a cold load fetches the wasm and the linked model (the hash over the query, the last of a repeated key) once each, from the preloads in the head, and the linked sample from the head', { timeout: 600_000 }, async () => {
  const browser = await launchBrowser();
  try {
    const { page, requests } = await openPage(browser.context, `${shared.server.url}?model=efficientnet-lite0&image=camera.png#model=bogus&model=digit-cnn&image=bogus.png&image=rocket.jpg&backend=cpu`);
    const got = await page.evaluate(() => ({
      error: window.convscope.error,
      script: window.convscope.startup.script,
      shown: document.querySelector('#samples [aria-pressed="true"]')?.dataset.sample,
      firstImage: window.convscope.firstImage,
      entries: performance.getEntriesByType('resource').filter((e) => /\.(wasm|csm|png|jpg)$/.test(e.name))
        .map((e) => ({ file: e.name.split('/').pop(), by: e.initiatorType, start: e.startTime })),
    }));
    assert.equal(got.error, null);
    const fetched = (end) => requests.filter((u) => u.endsWith(end)).length;
    assert.equal(fetched('/pkg/convscope_web_bg.wasm'), 1, 'the wasm is downloaded once');
    assert.equal(fetched('/pkg-webgpu/convscope_web_bg.wasm') + fetched('/pkg-webgpu/convscope_web.js'), 0, 'the CPU path does not fetch the WebGPU build');
    assert.equal(fetched('digit-cnn.csm'), 1, "the linked model's weights are downloaded once");
    assert.equal(fetched('efficientnet-lite0.csm'), 0, 'the default model is not downloaded when the link names another');
    for (const file of ['convscope_web_bg.wasm', 'digit-cnn.csm']) {
      const e = got.entries.find((x) => x.file === file);
      assert.equal(e?.by, 'link', `${file} comes from its preload: ${JSON.stringify(got.entries)}`);
      assert.ok(e.start < got.script, `${file} starts downloading before the page's script runs: ${JSON.stringify(got)}`);
    }
    // The linked sample is fetched (and decoded) by the head, before the page's script runs, and
    // is the image the page shows; the one the query names is not fetched to be decoded.
    assert.equal(got.shown, 'rocket.jpg', 'the page shows the sample the hash names');
    assert.equal(got.firstImage, 'head', "the page's first image is the one the head decoded");
    const early = got.entries.filter((e) => e.by === 'fetch' && e.start < got.script);
    assert.deepEqual(early.map((e) => e.file), ['rocket.jpg'], `the head fetches the linked sample, and only it: ${JSON.stringify(got)}`);
    await page.close();
  } finally {
    await browser.close();
  }
});
