// Headless screenshot of the page for docs/: `node tests/e2e/screenshot.mjs OUT.png [query]`.
import { serveDist, launchBrowser, openPage } from './harness.mjs';

const [out = 'docs/page.png', query = 'backend=cpu'] = process.argv.slice(2);
const server = await serveDist();
const browser = await launchBrowser();
try {
  const { page } = await openPage(browser.context, `${server.url}?${query}`);
  await page.waitForTimeout(300);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
}
