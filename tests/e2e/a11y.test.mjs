// The page with a keyboard and a screen reader: axe-core (npm, pinned) finds no serious or
// critical violation with every view drawn, and Escape closes the zooms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { openPage, sharedBrowser } from './harness.mjs';

const shared = await sharedBrowser();
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}; ${v.nodes.length} element(s), e.g. ${v.nodes[0].target.join(' ')}`);
}

test('axe-core: no serious or critical violation, with maps, a zoom and patterns drawn; Escape closes the zooms (CPU)', { timeout: 600_000 }, async () => {
  const { page, consoleErrors } = await openPage(shared.browser.context, `${shared.server.url}?backend=cpu`);
  await page.evaluate(() => window.convscope.explain({ method: 'gradcam', method2: 'saliency', score: true }));
  // The activations' zoom, opened and closed with the keyboard.
  await page.focus('.grid-col[data-slot="0"] .cell[tabindex="0"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#zoom-panel:not([hidden])');
  assert.deepEqual(await violations(page), [], 'with the activations zoomed');
  await page.keyboard.press('Escape');
  assert.equal(await page.isHidden('#zoom-panel'), true, 'Escape closes the activations zoom');
  // A short patterns run, one pattern zoomed, then Escape.
  await page.selectOption('#pattern-steps', '16');
  await page.selectOption('#pattern-size', '64');
  await page.click('#pattern-run');
  await page.waitForFunction(() => window.convscope.patterns.state === 'done', null, { timeout: 300_000 });
  await page.click('.pattern-cell');
  await page.waitForSelector('#pattern-zoom:not([hidden])');
  assert.deepEqual(await violations(page), [], 'with the patterns drawn and one zoomed');
  await page.keyboard.press('Escape');
  assert.equal(await page.isHidden('#pattern-zoom'), true, 'Escape closes the pattern zoom');
  assert.deepEqual(consoleErrors, []);
  await page.close();
});
