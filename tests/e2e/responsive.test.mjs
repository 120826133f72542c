// The page never freezes: on the CPU backend, the attention methods that run the network many
// times, faithfulness and the sanity check run in the engine's worker while the page keeps
// drawing frames (measured with requestAnimationFrame), with progress, and each can be
// cancelled or superseded by a newer request; a 10000x10000 image reaches the engine reduced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHugeImage, openPage, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();

// Since the last `take()`: the longest gap between frames in ms and the gaps over 50 ms
// (start, length), to find those inside a window of time; and the longest gap between beats
// of a 10 ms timer, which is how long the page's own thread was held. A frame can also wait
// for the compositor: in headless Chromium its raster is SwiftShader on the same two cores,
// and drawing a result (or the page's first seconds) delays one frame by 200-700 ms on a
// loaded CI machine with the page's thread idle (both measured): so frames are checked while
// the worker runs, the page's thread over the whole request.
const FRAMES = `(() => {
  const f = { last: performance.now(), max: 0, frames: 0, gaps: [], beat: performance.now(), thread: 0 };
  const loop = (t) => {
    f.max = Math.max(f.max, t - f.last);
    if (t - f.last > 50) f.gaps.push([f.last, t - f.last]);
    f.last = t; f.frames += 1; requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  const beat = () => { const t = performance.now(); f.thread = Math.max(f.thread, t - f.beat); f.beat = t; setTimeout(beat, 10); };
  beat();
  f.take = () => { const r = { max: Math.round(f.max), frames: f.frames, gaps: f.gaps, thread: Math.round(f.thread) }; f.max = 0; f.frames = 0; f.gaps = []; f.thread = 0; return r; };
  window.__frames = f;
})()`;

// Resolves once the page has drawn 30 frames in a row less than 50 ms apart (at most 30 s),
// with how long that took. A page just loaded (or a result just drawn) costs the GPU process
// 100-300 ms a frame for a while on the test machine, with no job running and the page's
// thread idle (traced: SkiaOutputSurfaceImplOnGpu::SwapBuffers under SwiftShader, two cores
// shared with the engine's worker): a request measured before that ends would charge the
// worker with it.
const STEADY = `new Promise((ok) => {
  const t0 = performance.now();
  let last = t0, run = 0;
  const loop = (t) => {
    run = t - last < 50 ? run + 1 : 0;
    last = t;
    if (run >= 30 || t - t0 > 30000) ok(Math.round(t - t0)); else requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
})`;

// The longest frame gap that starts while a worker job runs (from its first progress to its
// result): the page's thread only forwards progress then.
const during = (gaps, jobs) => Math.round(Math.max(0, ...gaps.filter(([t]) => jobs.some((j) => t >= j.since && t < j.until)).map(([, d]) => d)));

const GAP_MS = 200;

test('slow methods, faithfulness and the sanity check leave the page drawing frames, with progress (CPU)', { timeout: 900_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  await page.evaluate(FRAMES);
  const worked = [];
  for (const method of ['scorecam', 'integrated-gradients', 'occlusion', 'smoothgrad']) {
    const steady = await page.evaluate(STEADY);
    await page.evaluate(() => window.__frames.take());
    const t0 = Date.now();
    const before = await page.evaluate(() => window.convscope.attention.work.length);
    // Measured before anything big comes back: handing the maps to this test is not the page's.
    const [r, frames] = await page.evaluate(async (m) => {
      const p = (await window.convscope.explain({ method: m, score: true })).panes[0];
      const frames = window.__frames.take();
      return [{ id: p.method.id, deletion: p.scores?.ours.deletion.length, raw: p.raw.length, cells: p.height * p.width }, frames];
    }, method);
    const ms = Date.now() - t0;
    const jobs = (await page.evaluate(() => window.convscope.attention.work)).slice(before);
    assert.equal(r.id, method);
    assert.equal(r.deletion, 11, `${method} is scored`);
    assert.equal(r.raw, r.cells, `${method}'s map is the worker's, adopted whole`);
    assert.equal(jobs.length, 2, 'the map and its scores, each in the worker');
    const running = during(frames.gaps, jobs);
    worked.push({ method, steady, ms, frames: frames.frames, running, whole: frames.max, thread: frames.thread });
    assert.ok(running < GAP_MS, `${method} and its faithfulness (${ms} ms): the longest frame gap while the worker ran was ${running} ms`);
    // Drawing the result between the jobs holds the page's thread a little, never long.
    assert.ok(frames.thread < GAP_MS, `${method}: the page's thread was held for ${frames.thread} ms in the whole request`);
    // The page drew all along: at least ~20 frames a second.
    assert.ok(frames.frames > ms / 50, `${method}: ${frames.frames} frames in ${ms} ms`);
  }
  // The worker said how far it had got, and where the work went.
  const work = await page.evaluate(() => window.convscope.attention.work);
  assert.ok(work.length >= 8, JSON.stringify(work));
  assert.ok(work.every((w) => w.state === 'done' && w.updates > 0), JSON.stringify(work));

  await page.evaluate(STEADY);
  await page.evaluate(() => window.__frames.take());
  const t0 = Date.now();
  const before = await page.evaluate(() => window.convscope.attention.work.length);
  const frames = await page.evaluate(async () => {
    await window.convscope.sanity();
    return window.__frames.take();
  });
  const reports = await page.evaluate(() => window.convscope.attention.sanity);
  const jobs = (await page.evaluate(() => window.convscope.attention.work)).slice(before);
  assert.ok(reports[0].steps.length >= 3, JSON.stringify(reports));
  const running = during(frames.gaps, jobs);
  assert.ok(running < GAP_MS, `the sanity check (${Date.now() - t0} ms): the longest frame gap while it ran was ${running} ms`);
  assert.ok(frames.thread < GAP_MS, `the sanity check: the page's thread was held for ${frames.thread} ms in the whole request`);
  console.log('frame gaps:', JSON.stringify(worked), 'sanity', running, frames.max, frames.thread);
  assert.equal(await page.evaluate(() => window.convscope.error), null);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('slow work is cancelled by the button and superseded by a newer request; the page goes on (CPU)', { timeout: 900_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  const started = () => page.waitForFunction(() => {
    const w = window.convscope.attention.work.at(-1);
    return w && w.state === 'running' && w.updates > 0;
  }, null, { timeout: 120_000 });

  // Cancel: the bar goes away, nothing is reported as an error, the pane shows no stale map.
  await page.selectOption('#method-select', 'occlusion');
  await started();
  assert.equal(await page.isVisible('#cam-work'), true);
  assert.match(await page.textContent('#cam-work-text'), /Occlusion .*: \d+ of \d+ images/);
  await page.click('#cam-cancel');
  await page.waitForFunction(() => window.convscope.attention.work.at(-1).state === 'cancelled');
  await page.waitForFunction(() => document.getElementById('cam-work').hidden);
  assert.equal(await page.evaluate(() => window.convscope.error), null);
  assert.equal(await page.textContent('#cam-timing'), 'cancelled');
  assert.equal(await page.isHidden('.cam-pane[data-pane="0"]'), true, 'the cancelled method left no map behind');

  // Supersede: a newer method stops the one running; only the newer one's map lands.
  await page.selectOption('#method-select', 'scorecam');
  await started();
  const before = await page.evaluate(() => window.convscope.attention.work.length);
  const att = await page.evaluate(() => window.convscope.explain({ method: 'smoothgrad', score: false }));
  assert.equal(att.panes[0].method.id, 'smoothgrad');
  const work = await page.evaluate(() => window.convscope.attention.work);
  assert.equal(work[before - 1].what.startsWith('Score-CAM'), true);
  assert.equal(work[before - 1].state, 'cancelled', JSON.stringify(work));

  // A new image supersedes too, at once: its prediction does not wait for the old image's map.
  await page.selectOption('#method-select', 'integrated-gradients');
  await started();
  const runs = await page.evaluate(() => window.convscope.runs);
  await page.click('[data-sample="coffee.png"]');
  await page.waitForFunction((n) => window.convscope.runs > n, runs, { timeout: 120_000 });
  const states = await page.evaluate(() => window.convscope.attention.work.map((w) => w.state));
  assert.ok(states.includes('cancelled'));
  // The new image's map is computed in turn, for the new image.
  await page.waitForFunction(() => window.convscope.attention.work.at(-1).state === 'done', null, { timeout: 300_000 });
  assert.equal(await page.evaluate(() => window.convscope.error), null);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('a 10000x10000 image is analysed reduced: the engine never holds its full size (CPU)', { timeout: 600_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  const memory = () => page.evaluate(() => window.convscope.memory());
  const base = await memory();
  // A 10000x10000 PNG made in the page, opened as a file would be.
  await makeHugeImage(page);
  const result = await page.evaluate(async () => {
    const runs = window.convscope.runs;
    const file = window.__huge;
    const input = document.getElementById('file-input');
    const dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    input.dispatchEvent(new Event('change'));
    while (window.convscope.runs === runs && !window.convscope.error) await new Promise((ok) => setTimeout(ok, 100));
    return { error: window.convscope.error, label: document.getElementById('image-canvas').getAttribute('aria-label') };
  });
  assert.equal(result.error, null);
  assert.match(result.label, /huge\.png, 10000x10000 \(analysed at 2048x2048\)/);
  const after = await memory();
  // The wasm heap grew by less than one full-size copy (400 MB) would take.
  assert.ok(after.wasm - base.wasm < 120e6, `wasm memory ${base.wasm} -> ${after.wasm}`);
  console.log('wasm memory (bytes) before and after a 10000x10000 image:', base.wasm, after.wasm);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('an embedded figure of a slow method computes it in the worker: the host page keeps drawing (CPU)', { timeout: 600_000 }, async () => {
  const page = await shared.browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.addInitScript(FRAMES);
  await page.goto(`${shared.server.url}embed.html#v=1&view=attention&image=chelsea.png&method=occlusion&backend=cpu`);
  // From the moment the figure says how far it has got, to its end.
  await page.waitForFunction(() => {
    const el = document.querySelector('conv-scope');
    const bar = el?.shadowRoot?.querySelector('progress');
    return el && (el.state === 'error' || (bar && !bar.hidden && bar.value > 0));
  }, null, { timeout: 240_000 });
  await page.evaluate(() => window.__frames.take());
  await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector('conv-scope').state), null, { timeout: 240_000 });
  const frames = await page.evaluate(() => window.__frames.take());
  const r = await page.evaluate(() => ({ state: document.querySelector('conv-scope').state, result: document.querySelector('conv-scope').result }));
  assert.equal(r.state, 'done');
  assert.equal(r.result.panes[0].method, 'occlusion');
  assert.equal(r.result.panes[0].raw.length, 224 * 224);
  assert.ok(frames.max < GAP_MS, `the embedded occlusion map: the longest frame gap was ${frames.max} ms`);
  assert.ok(frames.thread < GAP_MS, `the embedded occlusion map: the host page's thread was held for ${frames.thread} ms`);
  assert.deepEqual(errors, []);
  await page.close();
});
