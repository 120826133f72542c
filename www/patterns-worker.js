// The filter-patterns worker: its own engine and copy of the model, so the page stays
// responsive while patterns are optimized. It steps the run, sends the current images every
// so often, and stops when told. No tensor maths here: the engine does it.
import init, { Engine, PatternRun } from './pkg/convscope_web.js';

let model = null;
let current = null; // { id, cancelled }
const tick = () => new Promise((ok) => setTimeout(ok, 0));

async function load({ backend, bytes, onnx }) {
  await init();
  const engine = await Engine.create(backend);
  if (model) model.free();
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

onmessage = async (e) => {
  const msg = e.data;
  try {
    if (msg.type === 'load') await load(msg);
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
