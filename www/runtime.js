// The one runtime that the full page, the iframe figure and every <conv-scope> element share:
// one wasm instance of each build, one engine per backend (one GPU device), one loaded copy of
// each model and sample, one queue of work. Everything is found relative to this file, so the
// folder can sit under any path of any host. No tensor maths here.
//
// The wasm comes in two builds (build.sh): pkg/ has no WebGPU backend and is what every page
// loads (the CPU engine, the backend choice, the views' pure functions); pkg-webgpu/, 4.6
// times its size (3.8 times gzipped), is fetched and compiled only when a WebGPU engine is
// made. A model, and everything made from it (its analyses and views), belongs to its
// engine's instance.
import init, { Engine, chooseBackend, enableTestHooks } from './pkg/convscope_web.js';
import { decode, fromBitmap } from './decode.js';
import { MODELS, SAMPLES } from './urlstate.js';

const base = new URL('.', import.meta.url);
/** A site file's address, relative to this module (works from another origin too). */
export const siteUrl = (path) => new URL(path, base).href;

// The bundled models and samples: one list, urlstate.js's (links name them too).
export { MODELS, SAMPLES };

let wasm = null;
let webgpuWasm = null; // Promise<the WebGPU build's bindings>, once asked for
const instances = { cpu: null, webgpu: null }; // each build's { module, exports } once loaded
const decisions = new Map(); // 'auto' | 'webgpu' | 'cpu' -> Promise<{backend, note}>
const engines = new Map(); // 'webgpu' | 'cpu' -> Promise<Engine>
const modelBytes = new Map(); // name -> Promise<Uint8Array>
const models = new Map(); // `${backend}/${name}` -> Promise<WebModel>
const samples = new Map(); // name -> Promise<decoded image>
let headImage = false; // whether the head's early decode gave the page its first image
let enginesCreated = 0;

/** Compile the wasm at `url` (streaming where the host serves it as application/wasm) and
 * instantiate it with its bindings' `init`. Under automation (tests) the numbers only tests
 * read may cross the boundary. */
async function instantiate(url, bindings) {
  let module;
  try {
    module = await WebAssembly.compileStreaming(fetch(url));
  } catch {
    // A host that does not serve .wasm as application/wasm.
    module = await WebAssembly.compile(await (await fetch(url)).arrayBuffer());
  }
  const exports = await bindings.default({ module_or_path: module });
  if (navigator.webdriver) bindings.enableTestHooks();
  return { module, exports };
}

/** The wasm build every page runs (no WebGPU backend), instantiated once. */
export function loadWasm() {
  wasm ??= instantiate(siteUrl('pkg/convscope_web_bg.wasm'), { default: init, enableTestHooks }).then((i) => {
    instances.cpu = i;
  });
  return wasm;
}

/** The WebGPU build's bindings, fetched, compiled and instantiated on the first ask. */
function loadWebgpuWasm() {
  webgpuWasm ??= (async () => {
    const bindings = await import('./pkg-webgpu/convscope_web.js');
    instances.webgpu = await instantiate(siteUrl('pkg-webgpu/convscope_web_bg.wasm'), bindings);
    return bindings;
  })();
  return webgpuWasm;
}

/** The compiled wasm module of the build that runs `backend` (after its engine was made), for
 * a worker to instantiate: compiling it again in each worker would take the machine's cores
 * from the page for a second or more. */
export const wasmModule = (backend = 'cpu') => instances[backend === 'webgpu' ? 'webgpu' : 'cpu']?.module ?? null;

/** `count(exports)` summed over the wasm instances loaded. */
const overInstances = (count) => Object.values(instances).reduce((sum, i) => sum + (i ? count(i.exports) : 0), 0);

/** The bytes the page's wasm instances hold (their memories only grow), for tests and the soak. */
export const wasmBytes = () => overInstances((e) => e.memory.buffer.byteLength);

/** The bytes the page's wasm allocators hold now (allocated, not yet freed): what a leak
 * raises, where the memories' sizes above are high-water marks that fragmentation also raises. */
export const liveBytes = () => overInstances((e) => e.liveBytes());

/** Where a backend choice ('auto' | 'webgpu' | 'cpu') runs, and why: `{backend, note}`, the
 * engine's rule (auto avoids software WebGPU adapters), asked once per choice. */
export function decide(choice = 'auto') {
  if (!decisions.has(choice)) decisions.set(choice, loadWasm().then(() => chooseBackend(choice)));
  return decisions.get(choice);
}

// The GPU devices the WebGPU engine was given, watched: a lost one (a driver reset, a tab
// in the background too long) is told to `onDeviceLost`'s listeners, once.
const gpuDevices = [];
const lostListeners = [];
let lostWhy = null;

/** Call `fn(why)` when the WebGPU engine's device is lost (after `forgetDevice`, the page's
 * work runs on the CPU). */
export const onDeviceLost = (fn) => lostListeners.push(fn);

function deviceLost(why) {
  if (lostWhy !== null) return;
  lostWhy = why || 'no reason given';
  for (const fn of lostListeners) fn(lostWhy);
}

/** Whether an error is the engine's word that its GPU device was lost (core's DEVICE_LOST). */
export const isDeviceLost = (e) => /the GPU device was lost/.test(e && e.message ? e.message : String(e));

/** Create the engine for `backend`, the WebGPU one from the WebGPU build, keeping the devices
 * it asks the browser for (to watch them). A WebGPU build that cannot be loaded gives the CPU
 * engine, with a note that says why. */
async function createWatched(backend) {
  if (backend !== 'webgpu') return Engine.create(backend);
  // No WebGPU here: the CPU build's engine, without fetching the WebGPU build.
  if (!globalThis.navigator?.gpu) return Engine.onCpu('WebGPU unavailable (this browser has no WebGPU); running on the CPU');
  let bindings;
  try {
    bindings = await loadWebgpuWasm();
  } catch (e) {
    return Engine.onCpu(`WebGPU unavailable (its build could not be loaded: ${e.message || e}); running on the CPU`);
  }
  if (!globalThis.GPUAdapter) return bindings.Engine.create(backend);
  const ask = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function requestDevice(...args) {
    const device = await ask.apply(this, args);
    gpuDevices.push(device);
    device.lost.then((info) => {
      if (info.reason !== 'destroyed' || device.destroyedByTest) deviceLost(info.message || info.reason);
    });
    return device;
  };
  try {
    return await bindings.Engine.create(backend);
  } finally {
    GPUAdapter.prototype.requestDevice = ask;
  }
}

/** After a lost device: the WebGPU engine, its models and analyses are dropped, and every
 * choice runs on the CPU from now on (a reload tries WebGPU again). */
export function forgetDevice(why) {
  lostWhy ??= why;
  engines.delete('webgpu');
  for (const map of [models, analyses]) {
    for (const key of [...map.keys()]) if (key.startsWith('webgpu/')) map.delete(key);
  }
  const cpu = loadWasm().then(() => ({ backend: 'cpu', note: `the GPU device was lost (${lostWhy}); convscope continues on the CPU` }));
  for (const choice of ['auto', 'webgpu', 'cpu']) decisions.set(choice, cpu);
}

/** Test hook: lose the WebGPU engine's device as a driver reset would (`GPUDevice.destroy`). */
export function loseDevice() {
  for (const d of gpuDevices) {
    d.destroyedByTest = true;
    d.destroy();
  }
  return gpuDevices.length;
}

/** The engine for a backend choice: one per backend a page (a WebGPU failure gives the CPU
 * engine; its `note` says why). */
export async function engine(choice = 'auto') {
  const { backend } = await decide(choice);
  if (!engines.has(backend)) {
    engines.set(backend, loadWasm().then(async () => {
      const e = await createWatched(backend);
      enginesCreated += 1;
      // WebGPU refused: later asks for the CPU get this same engine.
      if (e.backend !== backend && !engines.has(e.backend)) engines.set(e.backend, Promise.resolve(e));
      return e;
    }));
  }
  return engines.get(backend);
}

/** The bytes of a bundled model, fetched once. */
export function bundledBytes(name) {
  if (!MODELS.includes(name)) return Promise.reject(new Error(`no bundled model is called "${name}"; choose ${MODELS.join(' or ')}`));
  if (!modelBytes.has(name)) {
    const p = fetch(siteUrl(`weights/${name}.csm`)).then(async (r) => {
      if (!r.ok) throw new Error(`Could not load the model weights/${name}.csm (HTTP ${r.status}).`);
      return new Uint8Array(await r.arrayBuffer());
    });
    p.catch(() => modelBytes.delete(name));
    modelBytes.set(name, p);
  }
  return modelBytes.get(name);
}

/** A bundled model on an engine, loaded once per engine. */
export function bundledModel(eng, name) {
  const key = `${eng.backend}/${name}`;
  if (!models.has(key)) {
    const p = bundledBytes(name).then((bytes) => eng.loadModel(bytes));
    p.catch(() => models.delete(key));
    models.set(key, p);
  }
  return models.get(key);
}

export { MAX_SIDE, decode } from './decode.js';

/** Whether the page's first image came decoded from the head (index.html), for tests. */
export const usedHeadImage = () => headImage;

/** A bundled sample image, fetched and decoded once (the full page's first one by its head,
 * as the page loads: see index.html). */
export function sample(name) {
  if (!SAMPLES.includes(name)) return Promise.reject(new Error(`no sample image is called "${name}"; choose one of ${SAMPLES.join(', ')}`));
  if (!samples.has(name)) {
    // The head's image serves the first call only, and only for its own name (else it is let go).
    const first = globalThis.convscopeFirstImage;
    delete globalThis.convscopeFirstImage;
    if (first && first.name !== name) first.bitmap.then((b) => b?.close());
    const early = first?.name === name ? first.bitmap : null;
    const p = Promise.resolve(early).then(async (bitmap) => {
      if (bitmap) {
        headImage = true;
        return fromBitmap(bitmap, name);
      }
      const r = await fetch(siteUrl(`samples/${name}`));
      if (!r.ok) throw new Error(`Could not load the sample ${name} (HTTP ${r.status}).`);
      return decode(await r.blob(), name);
    });
    p.catch(() => samples.delete(name));
    samples.set(name, p);
  }
  return samples.get(name);
}

/** A queue: the function it returns runs jobs one at a time, in the order asked, and
 * resolves (or rejects) with each job's result. A failed job does not stop the ones after it. */
function serial() {
  let tail = Promise.resolve();
  return (job) => {
    const run = tail.then(job);
    tail = run.catch(() => {});
    return run;
  };
}

/** Run engine work one job at a time (see `serial`). */
export const enqueue = serial();

/** A module worker for the filter patterns, also from another origin (a page may only start
 * workers of its own origin, so a same-origin blob imports the real one). */
export function engineWorker() {
  const url = siteUrl('worker.js');
  if (new URL(url).origin === location.origin) return new Worker(url, { type: 'module' });
  const shim = URL.createObjectURL(new Blob([`import ${JSON.stringify(url)};`], { type: 'text/javascript' }));
  return new Worker(shim, { type: 'module' });
}

/** The message that loads a model into an engine worker, and what it transfers:
 * `postMessage(...loadMessage({backend, bytes, onnx}))`. The bytes are copied (the page keeps
 * its own) and the page's compiled wasm of that backend's build goes along (no worker
 * compiles it again). */
export function loadMessage({ backend, bytes, onnx }) {
  const copy = bytes.slice();
  return [{ type: 'load', backend, bytes: copy, onnx, module: wasmModule(backend) }, [copy.buffer]];
}

const analyses = new Map(); // `${backend}/${model}/${image}/${fit}` -> Promise<Analysis>

/** A sample's analysis by a bundled model, computed once and shared by every figure that
 * shows it (run through the queue). */
export function analysis(eng, modelName, imageName, fit) {
  const key = `${eng.backend}/${modelName}/${imageName}/${fit}`;
  if (!analyses.has(key)) {
    const p = Promise.all([bundledModel(eng, modelName), sample(imageName)])
      .then(([model, img]) => enqueue(() => model.analyse(img.name, img.rgba, img.width, img.height, fit)));
    p.catch(() => analyses.delete(key));
    analyses.set(key, p);
  }
  return analyses.get(key);
}

// One patterns worker for every figure on the page, loaded with one model at a time; runs
// one after the other.
let patterns = null;
const patternsQueue = serial();

/** Optimize patterns in the shared worker: `{model, backend, layer, channels, size, steps,
 * seed, fit}`; `onProgress({step, steps, rgba, info})` as it goes. Resolves with
 * `{rgba, own, seconds, info}`. */
export function runPatterns(job, onProgress) {
  const go = async () => {
    if (!patterns) {
      const worker = engineWorker();
      patterns = { worker, model: null, handlers: null };
      worker.onmessage = (e) => patterns.handlers?.(e.data);
      worker.onerror = (e) => patterns.handlers?.({ type: 'error', message: e.message || 'the patterns worker failed' });
    }
    const p = patterns;
    const key = `${job.backend}/${job.model}`;
    const talk = (send, transfer) => new Promise((ok, bad) => {
      let info = null;
      p.handlers = (msg) => {
        if (msg.type === 'error') bad(new Error(msg.message));
        else if (msg.type === 'loaded') ok(msg);
        else if (msg.type === 'started') info = msg.info;
        else if (msg.type === 'progress') onProgress?.({ ...msg, info });
        else if (msg.type === 'done') ok({ ...msg, info });
      };
      p.worker.postMessage(send, transfer || []);
    });
    if (p.model !== key) {
      await talk(...loadMessage({ backend: job.backend, bytes: await bundledBytes(job.model), onnx: null }));
      p.model = key;
    }
    const done = await talk({ type: 'run', id: 1, layer: job.layer, channels: job.channels, size: job.size, steps: job.steps, seed: job.seed, fit: job.fit, drawEveryMs: 400 });
    return done;
  };
  return patternsQueue(go);
}

/** What is loaded, for tests: one engine per backend, one model per engine. */
export function stats() {
  return { engines: enginesCreated, models: [...models.keys()], analyses: analyses.size, patternsWorker: patterns !== null };
}
