// Headless screenshots for docs/:
//   node tests/e2e/screenshot.mjs OUT.png [query]             the whole page
//   node tests/e2e/screenshot.mjs OUT.png [query] compare     the activations view: the image
//        beside coffee.png at `stem`, channel 5 zoomed over the image
//   node tests/e2e/screenshot.mjs OUT.png [query] attention   the attention view: Grad-CAM
//        beside Integrated Gradients for the top-1, scored
//   node tests/e2e/screenshot.mjs OUT.png [query] share       the attention view with its
//        "Embed…" dialog open
//   node tests/e2e/screenshot.mjs OUT.png - blog              the sample post, every figure drawn
//   node tests/e2e/screenshot.mjs OUT.png [query] zoo MODEL.onnx   an ONNX model opened: its
//        form, and Grad-CAM at the layer found from its graph
//   node tests/e2e/screenshot.mjs OUT.png [query] examples FOLDER CHANNEL   the folder indexed
//        as a set, then the patterns of the query's layer and CHANNEL's zoom: its pattern, its
//        map on the image and its top examples in the set
import { serveDist, launchBrowser, openPage } from './harness.mjs';

const [out = 'docs/page.png', query = 'backend=cpu', scenario = 'page'] = process.argv.slice(2);
const server = await serveDist();
const browser = await launchBrowser();
try {
  if (scenario === 'blog') {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 900, height: 1000 });
    await page.goto(`${server.url}blog.html`);
    // Scroll through, so every figure starts, then wait for all of them.
    const frames = () => page.frames().filter((f) => f.url().includes('embed.html'));
    for (let y = 0; y < 8000; y += 400) { await page.evaluate((v) => window.scrollTo(0, v), y); await page.waitForTimeout(150); }
    const done = (root) => root.evaluate(() => [...document.querySelectorAll('conv-scope')].every((e) => ['done', 'error'].includes(e.state)));
    for (let i = 0; i < 600 && !((await done(page)) && (await Promise.all(frames().map(done))).every(Boolean)); i++) await page.waitForTimeout(1000);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(500);
    await page.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${out}`);
    process.exit(0);
  }
  const { page } = await openPage(browser.context, `${server.url}?${query}`);
  if (scenario === 'share') {
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.evaluate(() => window.convscope.explain({ method: 'gradcam', score: false }));
    await page.click('[data-share="embed"][data-view="attention"]');
    await page.waitForTimeout(300);
    await page.screenshot({ path: out });
  } else if (scenario === 'compare') {
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.selectOption('#compare-select', 'coffee.png');
    await page.waitForFunction(() => window.convscope.layerView?.images.length === 2, null, { timeout: 240_000 });
    await page.click('.grid-col[data-slot="0"] .cell[data-channel="5"]');
    await page.check('#overlay-toggle');
    await page.waitForTimeout(300);
    await page.locator('#activations-panel').screenshot({ path: out });
  } else if (scenario === 'zoo') {
    await page.setViewportSize({ width: 1280, height: 1000 });
    const runs = await page.evaluate(() => window.convscope.runs);
    await page.setInputFiles('#onnx-input', process.argv[5]);
    await page.waitForFunction((r) => window.convscope.runs > r || window.convscope.error, runs, { timeout: 600_000 });
    await page.evaluate(() => window.convscope.explain({ method: 'gradcam', score: false }));
    await page.waitForTimeout(300);
    await page.locator('#onnx-form').screenshot({ path: out.replace(/\.png$/, '-form.png') });
    await page.locator('#attention-panel').screenshot({ path: out });
  } else if (scenario === 'examples') {
    await page.setViewportSize({ width: 1280, height: 1000 });
    const channel = Number(process.argv[6] ?? 5);
    await page.setInputFiles('#set-folder', process.argv[5]);
    await page.waitForFunction(() => window.convscope.examples.set && window.convscope.examples.set !== 'the bundled samples');
    await page.click('#index-run');
    await page.waitForFunction(() => ['done', 'error'].includes(window.convscope.examples.state), null, { timeout: 600_000 });
    if (!['starting', 'running', 'done'].includes(await page.evaluate(() => window.convscope.patterns.state))) await page.click('#pattern-run');
    await page.waitForFunction(() => window.convscope.patterns.state === 'done', null, { timeout: 900_000 });
    await page.click(`.pattern-cell[data-channel="${channel}"]`);
    await page.waitForFunction((c) => window.convscope.examples.shown?.channel === c && window.convscope.examples.shown.tiles === window.convscope.examples.shown.top.length, channel, { timeout: 240_000 });
    await page.waitForTimeout(300);
    await page.locator('#pattern-zoom').screenshot({ path: out });
    await page.locator('#examples-panel').screenshot({ path: out.replace(/\.png$/, '-panel.png') });
  } else if (scenario === 'attention') {
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.evaluate(() => window.convscope.explain({ method: 'gradcam', method2: 'integrated-gradients' }));
    await page.waitForTimeout(300);
    await page.locator('#attention-panel').screenshot({ path: out });
  } else {
    await page.waitForTimeout(300);
    await page.screenshot({ path: out, fullPage: true });
  }
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
}
