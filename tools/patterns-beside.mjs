// Put a pattern gallery written by `convscope patterns` (its DIR/<channel>.png files, 4 by 4,
// unlabelled, at their own size) beside a reference grid image, each under a caption, as one
// PNG, drawn by headless Chromium. Used for docs/patterns/blocks.5-vs-lucent.png:
//   node tools/patterns-beside.mjs DIR REF.png OUT.png "left caption" "right caption"
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser } from '../tests/e2e/harness.mjs';

const [dir, ref, out, left, right] = process.argv.slice(2);
const url = async (path) => `data:image/png;base64,${(await readFile(path)).toString('base64')}`;
const cells = await Promise.all([...Array(16).keys()].map((c) => url(join(dir, `${c}.png`))));
const html = `<body style="margin:0;background:#fff;font:15px sans-serif;color:#1d2330">
<div id="fig" style="display:inline-flex;gap:24px;padding:12px">
  <figure style="margin:0"><figcaption style="margin-bottom:6px">${left}</figcaption>
    <div style="display:grid;grid-template-columns:repeat(4,128px);width:512px">${cells.map((u) => `<img src="${u}" width="128" height="128">`).join('')}</div></figure>
  <figure style="margin:0"><figcaption style="margin-bottom:6px">${right}</figcaption><img src="${await url(ref)}" width="512" height="512"></figure>
</div></body>`;
const browser = await launchBrowser();
const page = await browser.context.newPage();
await page.setContent(html);
await page.locator('#fig').screenshot({ path: out });
await browser.close();
console.log(`wrote ${out}`);
