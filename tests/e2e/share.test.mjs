// Links and embeds in headless Chromium, on the CPU backend: each view's "Copy link" reopens
// the same view with the same numbers; bad link settings get a message naming the key while
// the rest applies; a blog page on another origin embeds an iframe and two <conv-scope>
// elements, drawn with the full page's numbers, on one wasm instance, one engine and one copy
// of each model, an element off screen computing nothing, the host's CSS kept out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { launchBrowser, openPage, serveDist, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();
const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

async function waitRuns(page, n) {
  await page.waitForFunction((k) => window.convscope.runs >= k || window.convscope.error, n, { timeout: 240_000 });
  assert.equal(await page.evaluate(() => window.convscope.error), null);
}

// Wait until the queue is idle (every job so far done).
const settle = (page) => page.evaluate(() => window.convscope.showLayer(window.convscope.layerView.layer));

test('each view\'s "Copy link" reopens that view: same layer, channels, method, class, and equal numbers', { timeout: 900_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}#backend=cpu`);
  await waitRuns(page, 1);

  // Activations: a layer, one scale for it, magma, ranked by max, a second image, a zoom.
  await page.selectOption('#layer-select', 'blocks.1');
  await page.selectOption('#norm-select', 'layer');
  await page.selectOption('#cmap-select', 'magma');
  await page.selectOption('#rank-select', 'max');
  await page.selectOption('#compare-select', 'coffee.png');
  await page.waitForFunction(() => window.convscope.layerView?.images.length === 2 && window.convscope.layerView.colormap === 'magma', null, { timeout: 240_000 });
  const channel = await page.evaluate(() => window.convscope.layerView.channels[3]);
  await page.click(`.grid-col[data-slot="0"] .cell[data-channel="${channel}"]`);
  await page.check('#overlay-toggle');
  await page.click('[data-share="link"][data-view="activations"]');
  const actLink = await page.evaluate(() => window.convscope.lastShare.url);
  assert.match(actLink, /#v=2&view=activations&model=efficientnet-lite0&image=chelsea\.png&backend=cpu&layer=blocks\.1/);
  await page.waitForSelector('[data-view="activations"] ~ .share-status:not([hidden])');
  assert.match(await page.textContent('[data-view="activations"] ~ .share-status'), /blocks\.1/);
  assert.match(await page.evaluate(() => location.hash), /layer=blocks\.1.*zoom=/, 'the address bar follows the controls');
  const act = await page.evaluate(() => ({ view: window.convscope.layerView, a: window.convscope.layerValues(0), b: window.convscope.layerValues(1), zoom: window.convscope.zoomed }));

  // Attention: LayerCAM for the second class at blocks.10, Grad-CAM beside it, viridis.
  await page.selectOption('#method-select', 'layercam');
  await page.selectOption('#cam-layer-select', 'blocks.10');
  const second = await page.$eval('#target-select', (s) => s.options[1].value);
  await page.selectOption('#target-select', second);
  await page.selectOption('#method2-select', 'gradcam');
  await page.selectOption('#cam-cmap-select', 'viridis');
  await page.waitForFunction((c) => {
    const p = window.convscope.attention.panes;
    return p[0]?.method.id === 'layercam' && p[0].target.class === Number(c) && p[1]?.method.id === 'gradcam' && p[0].layer === 'blocks.10';
  }, second, { timeout: 240_000 });
  await page.click('[data-share="link"][data-view="attention"]');
  const camLink = await page.evaluate(() => window.convscope.lastShare.url);
  assert.match(camLink, new RegExp(`view=attention.*method=layercam&class=${second}&camlayer=blocks\\.10&method2=gradcam&camcmap=viridis`));
  assert.doesNotMatch(camLink, /layer=blocks\.1&/, 'a view\'s link carries only its own settings');
  const cam = await page.evaluate(() => window.convscope.attention.panes);

  // Patterns: a layer, its second page, 16 steps of 64 px at their own size, seed 3.
  await page.selectOption('#pattern-layer', 'blocks.2');
  await page.click('#pattern-next');
  await page.selectOption('#pattern-steps', '16');
  await page.selectOption('#pattern-size', '64');
  await page.fill('#pattern-seed', '3');
  await page.check('#pattern-fit');
  await page.click('#pattern-run');
  await page.waitForFunction(() => ['done', 'error'].includes(window.convscope.patterns.state), null, { timeout: 600_000 });
  const pat = await page.evaluate(() => window.convscope.patterns);
  assert.equal(pat.state, 'done', pat.error);
  await page.click('[data-share="link"][data-view="patterns"]');
  const patLink = await page.evaluate(() => window.convscope.lastShare.url);
  // At its own size is the default since v=2: the link leaves it out.
  assert.match(patLink, /#v=2&view=patterns.*player=blocks\.2&channels=16\.\.24&steps=16&size=64&seed=3$/);
  assert.equal(pat.fit, 'as-is');
  assert.deepEqual(consoleErrors, []);
  await page.close();

  // Each link, opened afresh.
  const a = await openPage(shared.browser.context, actLink);
  await waitRuns(a.page, 1);
  await a.page.waitForFunction(() => window.convscope.layerView?.images.length === 2, null, { timeout: 240_000 });
  const act2 = await a.page.evaluate(() => ({ view: window.convscope.layerView, a: window.convscope.layerValues(0), b: window.convscope.layerValues(1), zoom: window.convscope.zoomed }));
  assert.equal(act2.view.layer, 'blocks.1');
  assert.deepEqual(act2.view.channels, act.view.channels, 'the same channels, ranked by max');
  assert.deepEqual(act2.view.scales, act.view.scales, 'one scale for the layer, both images');
  assert.equal(act2.view.colormap, 'magma');
  assert.equal(act2.zoom.channel, channel, 'the same channel zoomed');
  assert.equal(maxAbsDiff(act2.a, act.a), 0, 'the same maps on chelsea');
  assert.equal(maxAbsDiff(act2.b, act.b), 0, 'the same maps on coffee');
  assert.equal(await a.page.$eval('#overlay-toggle', (c) => c.checked), true);
  await a.page.close();

  const c = await openPage(shared.browser.context, camLink);
  await waitRuns(c.page, 1);
  const cam2 = await c.page.evaluate(() => window.convscope.attention.panes);
  assert.deepEqual(cam2.map((p) => [p.method.id, p.target.class, p.layer]), cam.map((p) => [p.method.id, p.target.class, p.layer]));
  assert.equal(maxAbsDiff(cam2[0].raw, cam[0].raw), 0, 'the same LayerCAM map');
  assert.equal(maxAbsDiff(cam2[1].raw, cam[1].raw), 0, 'the same Grad-CAM map');
  assert.equal(await c.page.$eval('#cam-cmap-select', (s) => s.value), 'viridis');
  await c.page.close();

  // A patterns link runs the same optimization: seeded, so the same result.
  const p = await openPage(shared.browser.context, patLink);
  await waitRuns(p.page, 1);
  await p.page.waitForFunction(() => ['done', 'error'].includes(window.convscope.patterns.state), null, { timeout: 600_000 });
  const pat2 = await p.page.evaluate(() => window.convscope.patterns);
  assert.equal(pat2.state, 'done', pat2.error);
  assert.deepEqual([pat2.layer, pat2.channels, pat2.size, pat2.fit], [pat.layer, pat.channels, pat.size, pat.fit]);
  assert.equal(maxAbsDiff(pat2.own, pat.own), 0, 'each pattern drives its channel as strongly as before');
  await p.page.close();
});

test('bad link settings each get a message naming the key; the rest of the link applies', { timeout: 600_000 }, async () => {
  const hash = '#v=1&backend=cpu&layer=blocks.99&scale=bogus&cmap=magma&zoom=5&method=nope&class=5000&camcmap=viridis&frobnicate=1&steps=7';
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}${hash}`);
  await waitRuns(page, 1);
  const notes = await page.evaluate(() => window.convscope.linkNotes);
  for (const key of ['layer', 'scale', 'method', 'class', 'frobnicate', 'steps']) {
    assert.equal(notes.filter((n) => n.includes(`\`${key}\``)).length, 1, `one message for ${key}: ${JSON.stringify(notes)}`);
  }
  assert.equal(notes.length, 6, JSON.stringify(notes));
  assert.equal(await page.isVisible('#link-notes-box'), true, 'the page shows them');
  assert.match(await page.textContent('#link-notes'), /blocks\.99/);
  await settle(page);
  const view = await page.evaluate(() => window.convscope.layerView);
  assert.equal(view.layer, 'stem', 'a bad layer: the default layer');
  assert.equal(view.colormap, 'magma', 'cmap still applies');
  assert.equal(await page.evaluate(() => window.convscope.zoomed?.channel), 5, 'zoom still applies');
  assert.equal(await page.$eval('#norm-select', (s) => s.value), 'channel', 'a bad scale: its default');
  const att = await page.evaluate(() => window.convscope.attention.panes[0]);
  assert.equal(att.method.id, 'gradcam', 'a bad method: Grad-CAM');
  const top = await page.evaluate(() => window.convscope.lastTop[0].index);
  assert.equal(att.target.class, top, 'a class out of range: the top-1');
  assert.equal(await page.$eval('#cam-cmap-select', (s) => s.value), 'viridis');
  assert.equal(await page.$eval('#pattern-steps', (s) => s.value), '128');
  assert.equal(await page.evaluate(() => window.convscope.error), null, 'no error: the page works');

  // The person's own image: the link cannot carry it, and says which sample it opens.
  const runs = await page.evaluate(() => window.convscope.runs);
  await page.setInputFiles('#file-input', { name: 'mine.png', mimeType: 'image/png', buffer: readFileSync(new URL('../../www/samples/coffee.png', import.meta.url)) });
  await waitRuns(page, runs + 1);
  await page.click('[data-share="embed"][data-view="attention"]');
  assert.match(await page.textContent('#share-notes'), /your own image \(mine\.png\): a link cannot carry the file, so it opens the sample chelsea\.png instead/);
  assert.match(await page.inputValue('#share-link'), /image=chelsea\.png/);
  assert.match(await page.inputValue('#share-element'), /<conv-scope v="2" view="attention" model="efficientnet-lite0" image="chelsea\.png"/);
  assert.match(await page.inputValue('#share-iframe'), /embed\.html#v=2&view=attention&/);
  await page.keyboard.press('Escape');
  assert.equal(await page.isVisible('#share-dialog'), false, 'Escape closes the dialog');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.share), 'embed', 'focus goes back to the button');
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('a backend chosen while the page is still loading reloads it on that backend, with the link it was opened with', { timeout: 600_000 }, async () => {
  // A fresh profile (no service worker), the model's weights held back until the choice is
  // made, so that it is made before the page has a model.
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    let held = true;
    const waiting = [];
    await page.route('**/weights/*.csm', (route) => (held ? waiting.push(route) : route.continue()));
    await page.goto(`${shared.server.url}#v=2&view=attention&image=coffee.png&method=layercam&backend=cpu`);
    await page.waitForSelector('#backend-select');
    assert.equal(await page.evaluate(() => window.convscope?.runs ?? 0), 0);
    await page.selectOption('#backend-select', 'auto');
    // The reloaded page gets its weights; the first one never did.
    held = false;
    await page.waitForFunction(() => performance.getEntriesByType('navigation')[0]?.type === 'reload' && window.convscope && (window.convscope.runs > 0 || window.convscope.error), null, { timeout: 240_000 });
    for (const route of waiting) route.abort().catch(() => {});
    const r = await page.evaluate(() => ({ hash: location.hash, backend: document.getElementById('backend-select').value, error: window.convscope.error, method: document.getElementById('method-select').value }));
    assert.equal(r.error, null);
    assert.equal(r.backend, 'auto');
    const link = new URLSearchParams(r.hash.slice(1));
    // (auto is the default backend: a link leaves it out)
    assert.deepEqual([link.get('backend') ?? 'auto', link.get('view'), link.get('image'), link.get('method')], ['auto', 'attention', 'coffee.png', 'layercam'], r.hash);
    assert.equal(r.method, 'layercam');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('a blog on another origin: an iframe and two elements drawn with the full page\'s numbers, one engine, lazy, isolated', { timeout: 900_000 }, async () => {
  // The site, with CORS, on one origin; the blog on another.
  const site = await serveDist({ cors: true });
  const iframeHash = '#v=1&view=activations&image=chelsea.png&layer=stem&zoom=5&compare=coffee.png&overlay=60&backend=cpu';
  const blog = `<!doctype html><html><head><meta charset="utf-8"><title>a blog</title>
<style>* { color: rgb(255, 0, 0) !important; font-size: 40px !important; } canvas, img { display: none !important; } figure { border: 9px solid red !important; }</style>
<script type="module" src="${site.url}convscope-element.js"></script></head><body>
<h1>My post</h1>
<iframe id="frame" src="${site.url}embed.html${iframeHash}" style="width: 520px; height: 300px"></iframe>
<conv-scope id="grid" view="activations" model="efficientnet-lite0" image="chelsea.png" layer="stem" backend="cpu"></conv-scope>
<div style="height: 6000px">a long post</div>
<conv-scope id="cam" view="attention" image="chelsea.png" method="gradcam" backend="cpu" start="view"></conv-scope>
<conv-scope id="old" view="patterns" backend="cpu" start="click"></conv-scope>
<conv-scope id="new" v="2" view="patterns" backend="cpu" start="click"></conv-scope>
<script>window.heights = []; addEventListener('message', (e) => { if (e.data && e.data.type === 'convscope:height') window.heights.push(e.data.height); });</script>
</body></html>`;
  const host = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(blog));
  await new Promise((ok) => host.listen(0, '127.0.0.1', ok));
  const hostUrl = `http://127.0.0.1:${host.address().port}/`;
  assert.notEqual(new URL(hostUrl).origin, new URL(site.url).origin);

  const page = await shared.browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const mainRequests = [];
  page.on('request', (r) => { if (r.frame() === page.mainFrame()) mainRequests.push(r.url()); });
  await page.goto(hostUrl);
  const state = (id) => page.evaluate((i) => document.getElementById(i).state, id);
  await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('grid').state), null, { timeout: 240_000 });
  const frame = page.frames().find((f) => f.url().includes('embed.html'));
  await frame.waitForFunction(() => ['done', 'error'].includes(document.querySelector('conv-scope')?.state), null, { timeout: 240_000 });
  const grid = await page.evaluate(() => document.getElementById('grid').result);
  const zoom = await frame.evaluate(() => document.querySelector('conv-scope').result);
  assert.equal(await state('grid'), 'done');
  assert.equal(await frame.evaluate(() => document.querySelector('conv-scope').state), 'done');

  // An element without `v` was written before v=2: it keeps v=1's defaults; the iframe's
  // v=1 link reaches its element as v=1.
  const fits = await page.evaluate(() => ['old', 'new'].map((i) => [document.getElementById(i).settings.v, document.getElementById(i).settings.pfit]));
  assert.deepEqual(fits, [[1, 'model'], [2, 'as-is']]);
  assert.equal(await frame.evaluate(() => document.querySelector('conv-scope').settings.v), 1);

  // Off screen: nothing computed yet.
  assert.equal(await state('cam'), 'poster', 'the element below the fold waits');
  assert.equal(await page.evaluate(() => customElements.get('conv-scope').runtime().analyses), 1, 'only the visible figure was analysed');
  await page.locator('#cam').scrollIntoViewIfNeeded();
  await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('cam').state), null, { timeout: 240_000 });
  assert.equal(await state('cam'), 'done');
  const cam = await page.evaluate(() => document.getElementById('cam').result);

  // One wasm instance, one engine, one copy of the model for the two elements.
  const count = (re) => mainRequests.filter((u) => re.test(u)).length;
  assert.equal(count(/convscope_web_bg\.wasm$/), 1, 'the wasm fetched once');
  assert.equal(count(/efficientnet-lite0\.csm$/), 1, 'the model fetched once');
  const rt = await page.evaluate(() => customElements.get('conv-scope').runtime());
  assert.equal(rt.engines, 1, 'one engine');
  assert.deepEqual(rt.models, ['cpu/efficientnet-lite0']);

  // The host's CSS does not reach inside.
  const inside = await page.evaluate(() => {
    const root = document.getElementById('grid').shadowRoot;
    const cs = (sel) => getComputedStyle(root.querySelector(sel));
    return { color: cs('figcaption').color, size: cs('figcaption').fontSize, canvas: cs('canvas').display, border: cs('figure').borderTopWidth };
  });
  assert.notEqual(inside.color, 'rgb(255, 0, 0)');
  assert.notEqual(inside.size, '40px');
  assert.equal(inside.canvas, 'block');
  assert.equal(inside.border, '1px');
  assert.ok((await page.evaluate(() => window.heights)).some((h) => h > 200), 'the iframe told its height');
  assert.match(await frame.getAttribute('conv-scope', 'view'), /activations/);
  const open = await frame.evaluate(() => document.querySelector('conv-scope').shadowRoot.querySelector('a.open').href);
  assert.match(open, new RegExp(`^${site.url.replace(/[.]/g, '\\.')}index\\.html#v=2&view=activations.*layer=stem&zoom=5&compare=coffee\\.png&overlay=60`));
  assert.deepEqual(errors, []);
  await page.close();

  // The full page's numbers for the same views.
  const full = await openPage(shared.browser.context, `${shared.server.url}#backend=cpu&layer=stem&compare=coffee.png`);
  await waitRuns(full.page, 1);
  await full.page.waitForFunction(() => window.convscope.layerView?.images.length === 2, null, { timeout: 240_000 });
  const [a, b] = await full.page.evaluate(() => [window.convscope.layerValues(0), window.convscope.layerValues(1)]);
  const att = await full.page.evaluate(() => window.convscope.explain({ method: 'gradcam', score: false }));
  assert.deepEqual(grid.channels, [...Array(32).keys()]);
  assert.equal(maxAbsDiff(grid.values[0], a), 0, 'the element\'s stem grid is the page\'s');
  const plane = 112 * 112;
  assert.deepEqual(zoom.channels, [5]);
  assert.equal(maxAbsDiff(zoom.values[0], a.slice(5 * plane, 6 * plane)), 0, 'the iframe\'s zoom on chelsea is the page\'s channel 5');
  assert.equal(maxAbsDiff(zoom.values[1], b.slice(5 * plane, 6 * plane)), 0, 'and on coffee');
  assert.equal(maxAbsDiff(cam.panes[0].raw, att.panes[0].raw), 0, 'the element\'s Grad-CAM is the page\'s');
  await full.page.close();
  await new Promise((ok) => host.close(ok));
  await site.close();
});
