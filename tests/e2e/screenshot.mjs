// Headless screenshots for docs/:
//   node tests/e2e/screenshot.mjs OUT.png [query]             the whole page
//   node tests/e2e/screenshot.mjs OUT.png [query] compare     the activations view: the image
//        beside coffee.png at `stem`, channel 5 zoomed over the image
//   node tests/e2e/screenshot.mjs OUT.png [query] attention   the attention view: Grad-CAM
//        beside Integrated Gradients for the top-1, scored
import { serveDist, launchBrowser, openPage } from './harness.mjs';

const [out = 'docs/page.png', query = 'backend=cpu', scenario = 'page'] = process.argv.slice(2);
const server = await serveDist();
const browser = await launchBrowser();
try {
  const { page } = await openPage(browser.context, `${server.url}?${query}`);
  if (scenario === 'compare') {
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.selectOption('#compare-select', 'coffee.png');
    await page.waitForFunction(() => window.convscope.layerView?.images.length === 2, null, { timeout: 240_000 });
    await page.click('.grid-col[data-slot="0"] .cell[data-channel="5"]');
    await page.check('#overlay-toggle');
    await page.waitForTimeout(300);
    await page.locator('#activations-panel').screenshot({ path: out });
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
