// The engine's worker: its own engine and copy of the model, for the work that runs the
// network many times (filter patterns, the slow attention methods, faithfulness, the sanity
// check), so that the page's thread only draws. No tensor maths here: the engine does it.
//
// Messages in: `load {backend, bytes, onnx, module}`, then any number of
// - `run {id, layer, channels, size, steps, seed, fit, drawEveryMs}` (patterns; `cancel {id}`
//   stops it between steps),
// - `attention {id, op, image, pane, method, cls, against, layer, raw}`: `op` is `explain`,
//   `faithfulness` or `sanity`; `image` is `{key, name, rgba, width, height, fit}` (its pixels
//   only when this worker has not seen `key`); `raw` is the map to score or check.
// - `index {id, json, layers, top, fit, files: [{name, blob}]}` (dataset examples: the index
//   `json` grown, or a new one of `layers`, by the files it lacks; `index-cancel {id}` stops
//   it between batches, keeping what it has),
// - `tiles {id, layer, channel, examples: [{image, y, x}], hi, size, fit, pictures: {name:
//   blob}}` (the examples' tiles, one message each; a newer `tiles` supersedes it).
// Messages out: `loaded`, `progress`, `done`, `cancelled`, `result {id, value, raw}`,
// `index-progress`, `index-saved`, `index-done`, `tile`, `tiles-done`,
// `error {id, message}`. An attention job is stopped by ending the worker.
import { decode } from './decode.js';

// The bindings of the wasm build the loaded model runs on: the WebGPU build for a WebGPU
// engine, else the CPU one (see runtime.js). Everything made from the model comes from them.
let api = null;
let model = null;
let current = null; // { id, cancelled }
const tick = () => new Promise((ok) => setTimeout(ok, 0));

async function load({ backend, bytes, onnx, module }) {
  const bindings = await (backend === 'webgpu' ? import('./pkg-webgpu/convscope_web.js') : import('./pkg/convscope_web.js'));
  // The page's compiled module when it sends one (no second compile), else the file.
  await bindings.default(module ? { module_or_path: module } : undefined);
  const engine = await bindings.Engine.create(backend);
  // What the last model held goes with it: its image's analysis, its view, the model.
  seen?.analysis.free();
  seen = null;
  view?.free();
  view = null;
  forgetTiles();
  model?.free();
  model = onnx
    ? engine.loadOnnx(bytes, onnx.name, String(onnx.mean ?? ''), String(onnx.std ?? ''), onnx.bgr, onnx.labels || '')
    : engine.loadModel(bytes);
  api = bindings;
  postMessage({ type: 'loaded', backend: engine.backend, note: engine.note });
}

async function run({ id, layer, channels, size, steps, seed, fit, drawEveryMs }) {
  const me = { id, cancelled: false };
  current = me;
  const pattern = new api.PatternRun(model, layer, Uint32Array.from(channels), size, seed, fit);
  me.pattern = pattern;
  try {
    postMessage({ type: 'started', id, info: pattern.info() });
    const t0 = performance.now();
    let lastDraw = t0;
    let done = 0;
    let stepMs = 0; // time spent stepping, without the waits and the drawing
    while (done < steps) {
      const s0 = performance.now();
      done = pattern.step(1);
      stepMs += performance.now() - s0;
      await tick(); // let a cancel message in
      if (me.cancelled) {
        postMessage({ type: 'cancelled', id, step: done });
        return;
      }
      const now = performance.now();
      if (now - lastDraw >= drawEveryMs || done === steps) {
        const rgba = await pattern.images();
        lastDraw = performance.now();
        postMessage({ type: 'progress', id, step: done, steps, msPerStep: stepMs / done, rgba }, [rgba.buffer]);
      }
    }
    const { values, off } = await pattern.own();
    postMessage({ type: 'done', id, own: values, off, seconds: (performance.now() - t0) / 1000 });
  } finally {
    pattern.free();
    me.pattern = null;
  }
}

// The attention jobs' image (analysed once per key) and view.
let seen = null; // { key, analysis }
let view = null;

async function attention({ id, op, image, pane, method, cls, against, layer, raw }) {
  if (!seen || seen.key !== image.key) {
    if (!image.rgba) throw new Error('internal: the worker was not sent the image');
    seen?.analysis.free();
    seen = null;
    const analysis = await model.analyse(image.name, image.rgba, image.width, image.height, image.fit);
    seen = { key: image.key, analysis };
    view ??= model.attentionView();
    view.setImage(analysis);
  }
  api.onProgress((done, total) => postMessage({ type: 'progress', id, done, total }));
  try {
    if (op === 'explain') {
      const value = await view.explain(pane, method, cls, against, layer);
      const values = view.mapValues(pane);
      postMessage({ type: 'result', id, value, raw: values }, [values.buffer]);
      return;
    }
    // Score or check the page's map (computed here or in the page).
    view.adopt(pane, method, cls, against, layer, raw);
    const value = op === 'faithfulness' ? await view.faithfulness(pane) : await view.sanity(pane);
    postMessage({ type: 'result', id, value });
  } finally {
    api.onProgress(null);
  }
}

// Dataset examples. Images are decoded here (never on the page's thread) as the page decodes
// its own (decode.js: at most MAX_SIDE pixels a side), and a PNG copy of each, at most
// PICTURE_SIDE a side, goes back for the page to keep with the index (lossless: an image of
// at most that size gives the kept copy's tiles the indexed values exactly; a JPEG's
// artefacts moved deep layers' peaks by a third).
const PICTURE_SIDE = 512;
const INDEX_BATCH = 4;
const SAVE_EVERY_MS = 3000;
let indexing = null; // { id, cancelled }

async function picture(bitmap) {
  const scale = Math.min(1, PICTURE_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = new OffscreenCanvas(Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale)));
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return canvas.convertToBlob({ type: 'image/png' });
}

async function index({ id, json, layers, top, fit, files }) {
  const me = { id, cancelled: false };
  indexing = me;
  const idx = json ? model.exampleIndex(json) : new api.ExampleIndex(model, layers, top, fit);
  try {
    const todo = files.filter((f) => !idx.has(f.name));
    const skipped = [];
    const t0 = performance.now();
    let lastSave = t0;
    let done = 0;
    const saved = () => ({ json: idx.toJson(), kept: idx.kept(), count: idx.count });
    while (done < todo.length && !me.cancelled) {
      const part = todo.slice(done, done + INDEX_BATCH);
      const names = [];
      const sizes = [];
      const pixels = [];
      const pictures = [];
      for (const f of part) {
        try {
          const im = await decode(f.blob, f.name);
          names.push(f.name);
          sizes.push(im.width, im.height);
          pixels.push(im.rgba);
          pictures.push({ name: f.name, blob: await picture(im.bitmap) });
          im.bitmap.close();
        } catch (err) {
          skipped.push(err.message);
        }
      }
      if (names.length) {
        const rgba = new Uint8Array(pixels.reduce((n, p) => n + p.length, 0));
        pixels.reduce((at, p) => { rgba.set(p, at); return at + p.length; }, 0);
        await idx.add(names, rgba, Uint32Array.from(sizes));
      }
      done += part.length;
      const now = performance.now();
      postMessage({ type: 'index-progress', id, done, total: todo.length, count: idx.count, seconds: (now - t0) / 1000, pictures, skipped: skipped.length });
      if (now - lastSave >= SAVE_EVERY_MS && done < todo.length) {
        lastSave = now;
        postMessage({ type: 'index-saved', id, ...saved() });
      }
      await tick(); // let a cancel message in
    }
    const seconds = (performance.now() - t0) / 1000;
    postMessage({ type: me.cancelled ? 'index-cancelled' : 'index-done', id, ...saved(), done, total: todo.length, seconds, skipped });
  } finally {
    idx.free();
    if (indexing === me) indexing = null;
  }
}

// The examples' images analysed last (a channel's examples share many), newest last.
const tileCache = new Map(); // name -> Analysis
const TILE_CACHE = 4;
let tilesWanted = 0;

function forgetTiles() {
  for (const a of tileCache.values()) a.free();
  tileCache.clear();
}

async function tiles({ id, layer, channel, examples, hi, size, fit, pictures }) {
  tilesWanted = id;
  for (const [i, e] of examples.entries()) {
    if (tilesWanted !== id) return;
    try {
      let a = tileCache.get(e.image);
      if (a) tileCache.delete(e.image);
      else {
        const im = await decode(pictures[e.image], e.image);
        a = await model.analyse(e.image, im.rgba, im.width, im.height, fit);
        im.bitmap.close();
      }
      tileCache.set(e.image, a);
      if (tileCache.size > TILE_CACHE) {
        const [oldest, gone] = tileCache.entries().next().value;
        tileCache.delete(oldest);
        gone.free();
      }
      if (tilesWanted !== id) return;
      const tile = await a.exampleTile(layer, channel, e.y, e.x, hi, size, 0.5);
      postMessage({ type: 'tile', id, i, tile }, [tile.rgba.buffer]);
    } catch (err) {
      postMessage({ type: 'tile', id, i, error: err && err.message ? err.message : String(err) });
    }
  }
  postMessage({ type: 'tiles-done', id });
}

onmessage = async (e) => {
  const msg = e.data;
  try {
    if (msg.type === 'load') await load(msg);
    else if (msg.type === 'attention') await attention(msg);
    else if (msg.type === 'index') await index(msg);
    else if (msg.type === 'index-cancel' && indexing && indexing.id === msg.id) indexing.cancelled = true;
    else if (msg.type === 'tiles') await tiles(msg);
    else if (msg.type === 'run') {
      // One run at a time: a new one stops the old first.
      if (current && current.promise) {
        current.cancelled = true;
        await current.promise.catch(() => {});
      }
      const promise = run(msg);
      current.promise = promise;
      await promise;
    }
    else if (msg.type === 'cancel' && current && current.id === msg.id) current.cancelled = true;
  } catch (err) {
    postMessage({ type: 'error', id: msg.id, message: err && err.message ? err.message : String(err) });
  }
};
