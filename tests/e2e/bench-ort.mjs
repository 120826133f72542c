// The page's CPU path beside ONNX Runtime Web (npm, pinned; its wasm build, one thread) in the
// same run and the same headless Chromium, on EfficientNet-Lite0 at 224 px: cold navigation to
// the first result (a fresh profile per round, nothing cached), and warm forward passes.
// Cold navigation is timed twice, the peers alternated: with the tests' flags, whose page
// compositing runs on SwiftShader's GL (headless, each frame drawn in software and read back
// by the GPU process), and with `--disable-gpu`, the software compositing of a browser
// without a GPU. On two cores the first costs a page that draws something (convscope's
// controls, text and canvases) CPU time that a blank page (ONNX Runtime Web's) does not pay.
// ONNX Runtime Web runs an ONNX export of the same network (bench/peer_torch.py writes one
// with ONNX_OUT; CONVSCOPE_ORT_MODEL names it). Run by `./build.sh bench`; prints a table and
// one JSON line.
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveDist, launchBrowser, openPage } from './harness.mjs';

const ROUNDS = Number(process.env.ROUNDS || 3);
const WARMUP = Number(process.env.WARMUP || 5);
const RUNS = Number(process.env.RUNS || 20);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const model = process.env.CONVSCOPE_ORT_MODEL;
if (!model) throw new Error('CONVSCOPE_ORT_MODEL: an ONNX export of EfficientNet-Lite0 (bench/peer_torch.py with ONNX_OUT)');

// ONNX Runtime Web's page: its CPU (wasm) build, one thread, the model, a grey image.
const site = await mkdtemp(join(tmpdir(), 'convscope-ort-'));
const dist = join(import.meta.dirname, 'node_modules/onnxruntime-web/dist');
for (const f of ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) await copyFile(join(dist, f), join(site, f));
await copyFile(model, join(site, 'model.onnx'));
await writeFile(join(site, 'index.html'), `<!doctype html><meta charset="utf-8"><script type="module">
import * as ort from './ort.wasm.min.mjs';
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = './';
const session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] });
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(3 * 224 * 224).fill(0.5), [1, 3, 224, 224]) };
await session.run(feeds);
window.firstResultMs = performance.now();
window.forward = () => session.run(feeds);
</script>`);

const timeWarm = (page, call) => page.evaluate(async ([warmup, runs, call]) => {
  const f = call === 'ort' ? () => window.forward() : () => window.convscope.logits();
  for (let i = 0; i < warmup; i++) await f();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  return t;
}, [WARMUP, RUNS, call]);

const ours = await serveDist();
const theirs = await serveDist({ root: site });
// How each cold round's browser composites its pages (see the top of this file).
const COMPOSITING = { 'SwiftShader GL': [], 'software (--disable-gpu)': ['--disable-gpu'] };
const cold = Object.fromEntries(Object.keys(COMPOSITING).map((k) => [k, { convscope: [], ort: [] }]));
const warm = { convscope: [], ort: [] };
try {
  for (let round = 0; round < ROUNDS; round++) for (const [mode, args] of Object.entries(COMPOSITING)) {
    for (const who of ['convscope', 'ort']) {
      const browser = await launchBrowser({ args });
      const first = round === 0 && args.length === 0;
      try {
        let page;
        if (who === 'convscope') {
          ({ page } = await openPage(browser.context, `${ours.url}?backend=cpu`, 600_000));
          cold[mode].convscope.push(await page.evaluate(() => window.convscope.firstPredictionMs));
          if (first) warm.convscope = await timeWarm(page, 'convscope');
        } else {
          page = await browser.context.newPage();
          await page.goto(theirs.url);
          await page.waitForFunction(() => window.firstResultMs, null, { timeout: 600_000 });
          cold[mode].ort.push(await page.evaluate(() => window.firstResultMs));
          if (first) warm.ort = await timeWarm(page, 'ort');
        }
      } finally {
        await browser.close();
      }
    }
  }
} finally {
  await ours.close({ now: true });
  await theirs.close({ now: true });
}
const rows = [
  ...Object.entries(cold).map(([mode, c]) => [`cold navigation to first result, ${mode} compositing (median of rounds)`, median(c.convscope), median(c.ort)]),
  ['warm forward pass (median)', median(warm.convscope), median(warm.ort)],
];
console.log(`\nthe page's CPU path against ONNX Runtime Web (wasm, 1 thread), same Chromium, ${ROUNDS} cold rounds, ${RUNS} warm runs; ms`);
console.log('| figure | convscope | ONNX Runtime Web | ratio |\n|---|---|---|---|');
for (const [name, a, b] of rows) console.log(`| ${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)}x |`);
console.log(JSON.stringify({ cold, warm: { convscope: median(warm.convscope), ort: median(warm.ort) } }));
