// Page benchmark: cold load to first prediction and warm EfficientNet-Lite0 forward latency,
// on WebGPU (SwiftShader software adapter) and the CPU backend, plus download sizes; and the
// activations view's layer switch (choosing a layer to its grid drawn, with the image's
// forward pass cached) for stem, blocks.5 and head on chelsea; and the attention view's map
// latency per method (forward pass cached for the CAMs; the input methods run the network).
// Run with `./build.sh bench` on an idle machine. Prints a table and one JSON line.
import { stat, readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { serveDist, launchBrowser, openPage, DIST } from './harness.mjs';

const WARMUP = Number(process.env.WARMUP || 10);
const RUNS = Number(process.env.RUNS || 10);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const LAYERS = ['stem', 'blocks.5', 'head'];
const SWITCH_ROUNDS = Number(process.env.SWITCH_ROUNDS || 8);
// Methods timed in the page, with their number of timed runs (after one warm-up).
const ATTENTION = [['gradcam', 8], ['layercam', 8], ['hirescam', 4], ['gradcam++', 4], ['eigencam', 4], ['saliency', 3]];

const server = await serveDist();
const results = {};
for (const backend of (process.env.CONVSCOPE_BENCH_BACKENDS || 'cpu,webgpu').split(',')) {
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
    // Layer switches: the first visit of each layer, then rounds over the three, each switch
    // made on an idle page (400 ms after the last frame, as a person clicks). "drawn" is
    // until the grid's canvas is filled; "presented" adds the browser's next frame.
    const switches = await page.evaluate(async ([layers, rounds]) => {
      const frame = () => new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
      const out = Object.fromEntries(layers.map((l) => [l, { drawn: [], presented: [], engine: [], paint: [] }]));
      for (let r = 0; r <= rounds; r++) {
        for (const l of layers) {
          await new Promise((ok) => setTimeout(ok, 400));
          const t0 = performance.now();
          const drawn = await window.convscope.showLayer(l);
          await frame();
          const v = window.convscope.layerView;
          out[l].drawn.push(drawn);
          out[l].presented.push(performance.now() - t0);
          out[l].engine.push(v.engineMs);
          out[l].paint.push(v.drawMs);
        }
      }
      return out;
    }, [LAYERS, SWITCH_ROUNDS]);
    const attention = {};
    for (const [method, runs] of ATTENTION) {
      const t = [];
      for (let i = 0; i <= runs; i++) {
        await new Promise((ok) => setTimeout(ok, 200));
        t.push(await page.evaluate((m) => window.convscope.explain({ method: m, score: false }).then((a) => a.ms), method));
      }
      attention[method] = { first_ms: t[0], median_ms: median(t.slice(1)), runs };
    }
    const layerSwitch = Object.fromEntries(Object.entries(switches).map(([l, t]) => [l, {
      first_drawn_ms: t.drawn[0],
      drawn_median_ms: median(t.drawn.slice(1)), drawn_max_ms: Math.max(...t.drawn.slice(1)),
      presented_median_ms: median(t.presented.slice(1)),
      engine_median_ms: median(t.engine.slice(1)), paint_median_ms: median(t.paint.slice(1)),
    }]));
    results[backend] = { attention, layer_switch: layerSwitch, backend: await page.evaluate(() => window.convscope.backend), first_prediction_ms: firstMs, startup_ms: startup, warm_median_ms: median(times), warm_min_ms: Math.min(...times), runs: RUNS };
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
  for (const [l, t] of Object.entries(r.layer_switch)) {
    console.log(`page ${k}: layer switch to ${l}: drawn median ${t.drawn_median_ms.toFixed(1)} ms (max ${t.drawn_max_ms.toFixed(1)}; engine ${t.engine_median_ms.toFixed(1)} + paint ${t.paint_median_ms.toFixed(1)}), presented ${t.presented_median_ms.toFixed(1)} ms; first visit ${t.first_drawn_ms.toFixed(1)} ms`);
  }
  for (const [m, t] of Object.entries(r.attention)) {
    console.log(`page ${k}: attention ${m}: map median ${t.median_ms.toFixed(1)} ms over ${t.runs} runs (first ${t.first_ms.toFixed(0)} ms)`);
  }
  console.log(`page ${k}: startup marks (ms after navigation) ${JSON.stringify(r.startup_ms)}`);
  console.log(`page ${k}: first prediction ${r.first_prediction_ms.toFixed(0)} ms after navigation; warm forward median ${r.warm_median_ms.toFixed(1)} ms (min ${r.warm_min_ms.toFixed(1)}) over ${r.runs} runs`);
}
console.log(`wasm ${(sizes.wasm_bytes / 1e6).toFixed(2)} MB raw, ${(sizes.wasm_gzip_bytes / 1e6).toFixed(2)} MB gzipped; EfficientNet-Lite0 weights ${(sizes.efficientnet_weights_bytes / 1e6).toFixed(2)} MB (${(sizes.efficientnet_weights_gzip_bytes / 1e6).toFixed(2)} MB gzipped)`);
console.log(JSON.stringify({ page: results, sizes }));
