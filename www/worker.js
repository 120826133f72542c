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
// Messages out: `loaded`, `progress`, `done`, `cancelled`, `result {id, value, raw}`,
// `error {id, message}`. An attention job is stopped by ending the worker.
import init, { AttentionView, Engine, PatternRun, onProgress } from './pkg/convscope_web.js';

let model = null;
let current = null; // { id, cancelled }
const tick = () => new Promise((ok) => setTimeout(ok, 0));

async function load({ backend, bytes, onnx, module }) {
  // The page's compiled module when it sends one (no second compile), else the file.
  await init(module ? { module_or_path: module } : undefined);
  const engine = await Engine.create(backend);
  // What the last model held goes with it: its image's analysis, its view, the model.
  seen?.analysis.free();
  seen = null;
  view?.free();
  view = null;
  model?.free();
  model = onnx
    ? engine.loadOnnx(bytes, onnx.name, String(onnx.mean ?? ''), String(onnx.std ?? ''), onnx.bgr, onnx.labels || '')
    : engine.loadModel(bytes);
  postMessage({ type: 'loaded', backend: engine.backend, note: engine.note });
}

async function run({ id, layer, channels, size, steps, seed, fit, drawEveryMs }) {
  const me = { id, cancelled: false };
  current = me;
  const pattern = new PatternRun(model, layer, Uint32Array.from(channels), size, seed, fit);
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
    view ??= new AttentionView(model);
    view.setImage(analysis);
  }
  onProgress((done, total) => postMessage({ type: 'progress', id, done, total }));
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
    onProgress(null);
  }
}

onmessage = async (e) => {
  const msg = e.data;
  try {
    if (msg.type === 'load') await load(msg);
    else if (msg.type === 'attention') await attention(msg);
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
