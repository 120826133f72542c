// What an embedded figure costs a reader, on the CPU backend: the bytes fetched before it
// starts (the poster) and when it runs, the time from scrolling it into view to the figure
// drawn, and a second element's extra bytes and time. Prints a table for BENCHMARKS.md.
//   node tests/e2e/bench-embed.mjs [rounds]
import { createServer } from 'node:http';
import { serveDist, launchBrowser } from './harness.mjs';

const rounds = Number(process.argv[2] || 3);
const site = await serveDist({ cors: true });
const blog = `<!doctype html><html><head><meta charset="utf-8"><title>bench</title>
<script type="module" src="${site.url}convscope-element.js"></script></head><body>
<div style="height: 3000px">text</div>
<conv-scope id="one" view="attention" image="chelsea.png" method="gradcam" backend="cpu"></conv-scope>
<div style="height: 3000px">more text</div>
<conv-scope id="two" view="activations" image="chelsea.png" layer="stem" backend="cpu"></conv-scope>
</body></html>`;
const host = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(blog));
await new Promise((ok) => host.listen(0, '127.0.0.1', ok));
const hostUrl = `http://127.0.0.1:${host.address().port}/`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = { poster: [], run: [], ms: [], second: [], secondMs: [] };
for (let i = 0; i < rounds; i++) {
  const browser = await launchBrowser();
  const page = await browser.context.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  await page.goto(hostUrl);
  await page.waitForFunction(() => document.getElementById('one')?.state === 'poster');
  await page.waitForTimeout(1000);
  rows.poster.push(bytes);
  const at = (id) => page.evaluate((el) => new Promise((ok) => {
    const t0 = performance.now();
    const x = document.getElementById(el);
    x.addEventListener('convscope-state', () => ok(performance.now() - t0), { once: true });
    x.scrollIntoView();
  }), id);
  const before = bytes;
  rows.ms.push(await at('one'));
  rows.run.push(bytes - before);
  const mid = bytes;
  rows.secondMs.push(await at('two'));
  rows.second.push(bytes - mid);
  await browser.close();
}
const kb = (b) => `${(b / 1024).toFixed(0)} KiB`;
console.log(`embed on the CPU backend, median of ${rounds} fresh profiles (bytes as sent, uncompressed)`);
console.log(`| what | figure |\n|---|---|`);
console.log(`| fetched before it starts (poster, scripts) | ${kb(median(rows.poster))} |`);
console.log(`| fetched when it runs (wasm, model, image) | ${kb(median(rows.run))} |`);
console.log(`| scroll into view -> Grad-CAM figure drawn | ${median(rows.ms).toFixed(0)} ms |`);
console.log(`| second element (stem grid, same model and image): extra bytes | ${kb(median(rows.second))} |`);
console.log(`| second element: scroll into view -> figure drawn | ${median(rows.secondMs).toFixed(0)} ms |`);
await new Promise((ok) => host.close(ok));
await site.close();
