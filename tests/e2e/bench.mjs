// Page benchmark: cold load to first prediction and warm EfficientNet-Lite0 forward latency,
// on WebGPU (SwiftShader software adapter) and the CPU backend, plus download sizes.
// Run with `./build.sh bench` on an idle machine. Prints a table and one JSON line.
import { stat, readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { serveDist, launchBrowser, openPage, DIST } from './harness.mjs';

const WARMUP = Number(process.env.WARMUP || 10);
const RUNS = Number(process.env.RUNS || 10);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const server = await serveDist();
const results = {};
for (const backend of ['cpu', 'webgpu']) {
  const browser = await launchBrowser(); // fresh profile: nothing cached
  try {
    const { page } = await openPage(browser.context, `${server.url}?backend=${backend}`, 600_000);
    const firstMs = await page.evaluate(() => window.convscope.firstPredictionMs);
    const startup = await page.evaluate(() => window.convscope.startup);
    const times = await page.evaluate(async ([warmup, runs]) => {
      for (let i = 0; i < warmup; i++) await window.convscope.logits();
      const t = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await window.convscope.logits();
        t.push(performance.now() - t0);
      }
      return t;
    }, [backend === 'webgpu' ? Math.min(WARMUP, 3) : WARMUP, RUNS]);
    results[backend] = { backend: await page.evaluate(() => window.convscope.backend), first_prediction_ms: firstMs, startup_ms: startup, warm_median_ms: median(times), warm_min_ms: Math.min(...times), runs: RUNS };
  } finally {
    await browser.close();
  }
}
await server.close();
const wasm = await readFile(`${DIST}/pkg/convscope_web_bg.wasm`);
const sizes = {
  wasm_bytes: wasm.length,
  wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length,
  js_glue_bytes: (await stat(`${DIST}/pkg/convscope_web.js`)).size,
  efficientnet_weights_bytes: (await stat(`${DIST}/weights/efficientnet-lite0.csm`)).size,
  efficientnet_weights_gzip_bytes: gzipSync(await readFile(`${DIST}/weights/efficientnet-lite0.csm`)).length,
};
for (const [k, r] of Object.entries(results)) {
  console.log(`page ${k}: startup marks (ms after navigation) ${JSON.stringify(r.startup_ms)}`);
  console.log(`page ${k}: first prediction ${r.first_prediction_ms.toFixed(0)} ms after navigation; warm forward median ${r.warm_median_ms.toFixed(1)} ms (min ${r.warm_min_ms.toFixed(1)}) over ${r.runs} runs`);
}
console.log(`wasm ${(sizes.wasm_bytes / 1e6).toFixed(2)} MB raw, ${(sizes.wasm_gzip_bytes / 1e6).toFixed(2)} MB gzipped; EfficientNet-Lite0 weights ${(sizes.efficientnet_weights_bytes / 1e6).toFixed(2)} MB (${(sizes.efficientnet_weights_gzip_bytes / 1e6).toFixed(2)} MB gzipped)`);
console.log(JSON.stringify({ page: results, sizes }));
