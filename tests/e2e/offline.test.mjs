// The page offline and its updates, in headless Chromium. Once loaded, a service worker holds
// the whole site (precache.json's list) in one cache named after the build; with the server
// gone, a reload still predicts, draws a layer's maps and a Grad-CAM map, and runs patterns in
// the worker. A new build on the same origin is offered with one banner and applied on the
// click: one reload, no loop, and only the new build's cache is left.
// (Playwright's setOffline does not cover a service worker's fetches: the server is stopped.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, REPO, launchBrowser, openPage, serveDist } from './harness.mjs';

const built = JSON.parse(await readFile(join(DIST, 'precache.json'), 'utf8').catch(() => {
  throw new Error(`${DIST}/precache.json is missing: build the site with ./build.sh (it runs tools/precache.mjs)`);
}));

/** Wait until a service worker controls the page; returns its cache name, the cache keys and
 * the precached files missing from its cache. */
async function whenControlled(page, timeoutMs = 180_000) {
  return page.evaluate(async (timeoutMs) => {
    const off = window.convscopeOffline;
    if (!off || !off.enabled) return { error: 'the page registered no service worker: is registerOffline() (www/offline.js) called by the page?' };
    const late = new Promise((_, bad) => setTimeout(() => bad(new Error(`no service worker controls the page after ${timeoutMs / 1000} s`)), timeoutMs));
    const cache = await Promise.race([off.ready, late]);
    const list = await (await fetch('precache.json')).json();
    const stored = await caches.open(cache);
    const missing = [];
    for (const file of list.files) if (!(await stored.match(file))) missing.push(file);
    return { cache, listed: list.cache, missing, keys: await caches.keys() };
  }, timeoutMs);
}

const ourCaches = (keys) => keys.filter((k) => k.startsWith('convscope-'));

test('the build lists every file of the site and names its cache in sw.js', async () => {
  assert.match(built.cache, /^convscope-[0-9a-f]{16}$/);
  for (const file of ['./', 'index.html', 'app.js', 'offline.js', 'worker.js', 'style.css', 'manifest.webmanifest',
    'icon-192.png', 'icon-512.png', 'pkg/convscope_web.js', 'pkg/convscope_web_bg.wasm', 'weights/efficientnet-lite0.csm',
    'weights/digit-cnn.csm', 'weights/README.md', 'samples/chelsea.png', 'samples/LICENSES.md']) {
    assert.ok(built.files.includes(file), `${file} is not in precache.json`);
  }
  assert.ok(!built.files.includes('sw.js') && !built.files.includes('precache.json'), 'sw.js and precache.json are not listed');
  // The WebGPU build is cached when first used, not at install (a visitor on the CPU path
  // never downloads it).
  assert.deepEqual(Object.keys(built.lazy), ['pkg-webgpu/convscope_web.js', 'pkg-webgpu/convscope_web_bg.wasm']);
  for (const [file, hash] of Object.entries(built.lazy)) assert.match(hash, /^[0-9a-f]{64}$/, `${file}'s sha256`);
  const sw = await readFile(join(DIST, 'sw.js'), 'utf8');
  assert.ok(sw.includes(`const BUILD = '${built.cache}';`), 'dist/sw.js carries the cache name (else browsers see no update)');
});

test('offline: with the server stopped, the page predicts, shows layers, Grad-CAM and patterns', { timeout: 600_000 }, async () => {
  const server = await serveDist();
  const browser = await launchBrowser();
  try {
    const { page, consoleErrors } = await openPage(browser.context, `${server.url}?backend=cpu`);
    assert.equal(await page.evaluate(() => window.convscope.error), null);
    const sw = await whenControlled(page);
    assert.equal(sw.error, undefined, sw.error);
    assert.equal(sw.cache, built.cache, 'the worker serves this build\'s cache');
    assert.equal(sw.listed, built.cache, 'precache.json comes from that cache');
    assert.deepEqual(sw.missing, [], 'every precached file is in the cache');
    // The first visit downloads the site once: the worker's copies of the wasm and the
    // weights the page has just loaded are the server's "not modified", not a second download.
    for (const big of ['/pkg/convscope_web_bg.wasm', '/weights/efficientnet-lite0.csm']) {
      const answers = server.sent.filter((r) => r.path === big).map((r) => r.status);
      assert.equal(answers.filter((status) => status === 200).length, 1, `${big} was sent whole once, not ${JSON.stringify(answers)}`);
    }
    // The WebGPU build, once a WebGPU engine has been made online, is kept for offline use.
    const lazyMissing = await page.evaluate(async (files) => {
      const rt = await import('./runtime.js');
      await rt.engine('webgpu');
      const stored = await caches.open(window.convscopeOffline.cache);
      const missing = [];
      for (const file of files) {
        // Stored as the page reads it: wait for the worker's copy (up to 10 s).
        for (let i = 0; i < 100 && !(await stored.match(file)); i++) await new Promise((ok) => setTimeout(ok, 100));
        if (!(await stored.match(file))) missing.push(file);
      }
      return missing;
    }, Object.keys(built.lazy));
    assert.deepEqual(lazyMissing, [], 'the WebGPU build is cached once used');

    const failed = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
    await server.close({ now: true });
    await assert.rejects(fetch(server.url), 'the server is gone');

    await page.reload();
    await page.waitForFunction(() => window.convscope && (window.convscope.runs > 0 || window.convscope.error), null, { timeout: 240_000 });
    const state = await page.evaluate(() => ({ error: window.convscope.error, top: window.convscope.lastTop, controlled: !!navigator.serviceWorker.controller }));
    assert.equal(state.error, null, `page error offline: ${state.error}`);
    assert.ok(state.controlled, 'the reloaded page is controlled by the worker');
    assert.ok(state.top && state.top.length > 0, 'a prediction offline');

    await page.evaluate(() => window.convscope.showLayer('blocks.0'));
    assert.equal(await page.evaluate(() => window.convscope.layerView.layer), 'blocks.0', 'a layer grid offline');

    const raw = await page.evaluate(async () => (await window.convscope.explain({ method: 'gradcam', score: false })).panes[0].raw);
    assert.equal(raw.length, 49, 'Grad-CAM at the last layer is 7x7');
    assert.ok(raw.some((v) => v !== raw[0]), 'the Grad-CAM map is not flat');
    const gpu = await page.evaluate(async () => (await (await import('./runtime.js')).engine('webgpu')).backend);
    assert.equal(gpu, 'webgpu', 'a WebGPU engine offline, from the cached build');

    // A short run in the patterns worker: its script and its own wasm come from the cache too.
    await page.locator('#patterns-panel').scrollIntoViewIfNeeded();
    await page.selectOption('#pattern-steps', '16');
    await page.selectOption('#pattern-size', '64');
    await page.setChecked('#pattern-fit', true);
    await page.click('#pattern-run');
    await page.waitForFunction(() => ['done', 'error'].includes(window.convscope.patterns.state), null, { timeout: 240_000 });
    const patterns = await page.evaluate(() => window.convscope.patterns);
    assert.equal(patterns.state, 'done', `patterns offline: ${patterns.error}`);

    assert.deepEqual(failed, [], 'no request failed offline');
    assert.deepEqual(consoleErrors, [], 'no console errors');
  } finally {
    await browser.close();
    await server.close({ now: true });
  }
});

test('update: a new build is offered with a banner and applied once, on the click', { timeout: 600_000 }, async () => {
  // The second build: dist with one file changed, listed again.
  const tmp = await mkdtemp(join(tmpdir(), 'convscope-build2-'));
  const second = join(tmp, 'site');
  await cp(DIST, second, { recursive: true });
  await appendFile(join(second, 'style.css'), '\n/* the second build */\n');
  execFileSync(process.execPath, [join(REPO, 'tools/precache.mjs'), second]);
  const next = JSON.parse(await readFile(join(second, 'precache.json'), 'utf8')).cache;
  assert.notEqual(next, built.cache, 'a changed file gives a new cache name');

  const server = await serveDist();
  const browser = await launchBrowser();
  try {
    // Every load of the page counted from the first: the first visit's worker taking control
    // must not reload it.
    const page = await browser.context.newPage();
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    let loads = 0;
    page.on('load', () => { loads += 1; });
    await page.goto(`${server.url}?backend=cpu`);
    await page.waitForFunction(() => window.convscope && (window.convscope.runs > 0 || window.convscope.error), null, { timeout: 240_000 });
    const first = await whenControlled(page);
    assert.equal(first.error, undefined, first.error);
    assert.equal(first.cache, built.cache);
    await page.waitForTimeout(2_000);
    assert.equal(loads, 1, 'the first visit is not reloaded when its worker takes control');

    // The new build on the same origin; the reload is still the old build, from its cache.
    server.setRoot(second);
    await page.reload();
    await page.waitForSelector('[role="status"]:has-text("A new version of convscope is ready.")', { timeout: 120_000 });
    assert.equal(loads, 2, 'no reload but ours before the click');
    assert.equal(await page.locator('[role="status"]:has-text("A new version of convscope is ready.")').count(), 1, 'one banner');
    const before = await page.evaluate(async () => ({
      updateReady: window.convscopeOffline.updateReady,
      css: await (await fetch('style.css')).text(),
    }));
    assert.equal(before.updateReady, true);
    assert.ok(!before.css.includes('the second build'), 'until the click, the page is the old build');

    const reloaded = page.waitForEvent('load', { timeout: 120_000 });
    await page.getByRole('button', { name: 'Update' }).click();
    await reloaded;
    await page.waitForFunction(() => window.convscope && (window.convscope.runs > 0 || window.convscope.error), null, { timeout: 240_000 });
    const after = await whenControlled(page);
    assert.equal(after.cache, next, 'the new worker controls the page');
    assert.deepEqual(ourCaches(after.keys), [next], 'only the new build\'s cache is left');
    assert.deepEqual(after.missing, []);
    const now = await page.evaluate(async () => ({
      css: await (await fetch('style.css')).text(),
      banners: document.querySelectorAll('.update-banner').length,
      waiting: !!(await navigator.serviceWorker.getRegistration()).waiting,
      error: window.convscope.error,
    }));
    assert.ok(now.css.includes('the second build'), 'the page now gets the new build');
    assert.equal(now.banners, 0, 'no banner after the update');
    assert.equal(now.waiting, false, 'no worker left waiting');
    assert.equal(now.error, null);

    // No reload loop: a while later, still three loads (the visit, our reload, the one after
    // the click).
    await page.waitForTimeout(5_000);
    assert.equal(loads, 3, `the page loaded ${loads} times, not 3`);
    assert.deepEqual(consoleErrors, [], 'no console errors');
  } finally {
    await browser.close();
    await server.close({ now: true });
    await rm(tmp, { recursive: true, force: true });
  }
});

/** Every page of `context` records when it calls `navigator.serviceWorker.register`, in
 * `window.swRegisteredAt` (ms since it opened). */
function recordRegistration(context) {
  return context.addInitScript(() => {
    const sw = navigator.serviceWorker;
    const register = sw.register.bind(sw);
    sw.register = (...args) => {
      window.swRegisteredAt = performance.now();
      return register(...args);
    };
  });
}

test('the service worker is registered once the first prediction is drawn, not during the start', { timeout: 480_000 }, async () => {
  // Installing, it copies the wasm and the weights into its cache: on two cores, beside the
  // page's own compile and load, that made the first prediction a fifth later.
  const server = await serveDist();
  const browser = await launchBrowser();
  try {
    await recordRegistration(browser.context);
    const { page } = await openPage(browser.context, `${server.url}?backend=cpu`);
    const sw = await whenControlled(page);
    assert.equal(sw.error, undefined, sw.error);
    const at = await page.evaluate(() => ({ registered: window.swRegisteredAt, first: window.convscope.firstPredictionMs }));
    assert.ok(at.registered > 0 && at.first > 0, `times recorded: ${JSON.stringify(at)}`);
    assert.ok(at.registered >= at.first, `registered at ${at.registered.toFixed(0)} ms, before the first prediction at ${at.first.toFixed(0)} ms`);
  } finally {
    await browser.close();
    await server.close({ now: true });
  }
});

test('a start-up that never ends still registers the service worker, 10 s after the page opened', { timeout: 300_000 }, async () => {
  // The page's fetch of the model never answers (the worker's own fetches are not routed).
  const server = await serveDist();
  const browser = await launchBrowser();
  try {
    await recordRegistration(browser.context);
    const page = await browser.context.newPage();
    let stalled = 0;
    await page.route('**/weights/*.csm', () => { stalled += 1; });
    await page.goto(`${server.url}?backend=cpu`);
    await page.waitForFunction(() => window.swRegisteredAt > 0, null, { timeout: 120_000 });
    const at = await page.evaluate(() => ({ registered: window.swRegisteredAt, runs: window.convscope ? window.convscope.runs : null, first: window.convscope && window.convscope.firstPredictionMs }));
    assert.ok(stalled > 0, 'the page asked for the model (the stall was in place)');
    assert.equal(at.runs, 0, `the start-up was still stalled when the worker registered: ${JSON.stringify(at)}`);
    assert.ok(!at.first, `no first prediction yet: ${JSON.stringify(at)}`);
    assert.ok(at.registered >= 9_000, `registered at ${at.registered.toFixed(0)} ms: not before the 10 s bound`);
  } finally {
    await browser.close();
    await server.close({ now: true });
  }
});

test('inside an iframe (an embed), the page registers no service worker', { timeout: 300_000 }, async () => {
  const server = await serveDist();
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    // A page of the same origin that embeds the full page.
    const host = `${server.url}embeds-the-page.html`;
    await page.route(host, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><iframe src="./?backend=cpu" width="1000" height="700"></iframe>' }));
    await page.goto(host);
    await page.waitForFunction(() => {
      const p = document.querySelector('iframe').contentWindow.convscope;
      return p && (p.runs > 0 || p.error);
    }, null, { timeout: 240_000 });
    const got = await page.evaluate(async () => {
      const inner = document.querySelector('iframe').contentWindow;
      // Once the page has settled: a worker it registered would be there by now.
      await inner.convscope.settle();
      await new Promise((ok) => setTimeout(ok, 1_000));
      return {
        error: inner.convscope.error,
        enabled: inner.convscopeOffline && inner.convscopeOffline.enabled,
        registrations: (await navigator.serviceWorker.getRegistrations()).length,
      };
    });
    assert.equal(got.error, null, `page error in the iframe: ${got.error}`);
    assert.equal(got.enabled, false, 'registerOffline() stands down inside an iframe');
    assert.equal(got.registrations, 0, 'no service worker registered');
  } finally {
    await browser.close();
    await server.close({ now: true });
  }
});
