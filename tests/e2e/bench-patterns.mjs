// Page benchmark of the filter-patterns view: milliseconds per optimization step for a page
// of 16 channels of EfficientNet-Lite0's blocks.5 at 128 px, in the page's worker, on the CPU
// backend and on WebGPU (SwiftShader here), fed as is and, on the CPU, resized to the
// model's 224 px input (Lucent's setting). Timed over the first STEPS steps (the first one
// included), then cancelled. First, the view's default settings run to the end. Run on an
// idle machine.
import { serveDist, launchBrowser, openPage } from './harness.mjs';

const STEPS = Number(process.env.STEPS || 4);
const server = await serveDist();
const out = [];

// The view as it opens (its default layer, 16 channels, steps, size and fit), run to the end
// on the CPU backend: what a visitor waits for a page of patterns.
{
  const browser = await launchBrowser();
  try {
    const { page } = await openPage(browser.context, `${server.url}?backend=cpu`, 600_000);
    await page.locator('#patterns-panel').scrollIntoViewIfNeeded();
    const settings = await page.evaluate(() => ({ layer: document.getElementById('pattern-layer').value, steps: document.getElementById('pattern-steps').value, size: document.getElementById('pattern-size').value, asIs: document.getElementById('pattern-fit').checked }));
    const t0 = Date.now();
    await page.click('#pattern-run');
    await page.waitForFunction(() => ['done', 'error'].includes(window.convscope.patterns.state), null, { timeout: 3_600_000, polling: 200 });
    const wall = (Date.now() - t0) / 1000;
    const p = await page.evaluate(() => window.convscope.patterns);
    const r = { defaults: settings, state: p.state, error: p.error, seconds: p.seconds, wall, own: p.own };
    console.log(`page cpu, the view's defaults (${settings.layer}, ${settings.steps} steps, ${settings.size} px, ${settings.asIs ? 'at its own size' : 'resized to the model input'}): 16 patterns in ${wall.toFixed(1)} s from the click (${p.seconds?.toFixed(1)} s of optimization)`);
    out.push(r);
  } finally {
    await browser.close();
  }
}
for (const [backend, fit] of [['cpu', 'as-is'], ['cpu', 'model'], ['webgpu', 'as-is']]) {
  const browser = await launchBrowser();
  try {
    const { page } = await openPage(browser.context, `${server.url}?backend=${backend}`, 600_000);
    await page.locator('#patterns-panel').scrollIntoViewIfNeeded();
    await page.selectOption('#pattern-layer', 'blocks.5');
    await page.selectOption('#pattern-size', '128');
    await page.selectOption('#pattern-steps', '512');
    await page.setChecked('#pattern-fit', fit === 'as-is');
    await page.click('#pattern-run');
    await page.waitForFunction((n) => window.convscope.patterns.step >= n || window.convscope.patterns.error, STEPS, { timeout: 3_600_000, polling: 200 });
    const p = await page.evaluate(() => window.convscope.patterns);
    await page.click('#pattern-cancel');
    const r = { backend: p.backend, fit, steps: p.step, ms_per_step: p.msPerStep, error: p.error };
    console.log(`page ${r.backend} (${fit}): ${r.ms_per_step.toFixed(0)} ms a step for 16 channels, ${(r.ms_per_step / 16).toFixed(0)} ms per image-step (first ${r.steps} steps)`);
    out.push(r);
  } finally {
    await browser.close();
  }
}
await server.close();
console.log(JSON.stringify(out));
