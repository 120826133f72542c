// convscope page: decodes images, calls the wasm engine, draws. No tensor maths here.
// The page's settings live in the URL's hash (urlstate.js): every control change rewrites it,
// and opening a link restores that view.
import { attentionMethods, onnxPresets } from './pkg/convscope_web.js';
import * as rt from './runtime.js';
import { setupActivations } from './activations.js';
import { setupAttention } from './attention.js';
import { setupPatterns } from './patterns.js';
import { setupExamples } from './examples.js';
import { setupOnnx } from './onnx.js';
import { setupShare } from './share.js';
import { registerOffline } from './offline.js';
import { superseded } from './longwork.js';
import { DEFAULTS, checkAgainstModel, pairsToHash, parseHash, toHash } from './urlstate.js';

const $ = (id) => document.getElementById(id);
const SAMPLES = rt.SAMPLES;

const state = {
  engine: null, model: null, modelName: null, modelBytes: null, onnx: () => null, info: null,
  image: null, analysis: null, fit: 'whole', backend: 'auto',
  // The sample shown (null when the image is the person's own file), and the view the person
  // worked in last: what a link names.
  sample: null, view: 'activations', booted: false,
};
// What tests and benchmarks read; the page itself never needs it.
const probe = { ready: false, backend: null, note: null, lastTop: null, lastMs: null, firstPredictionMs: null, runs: 0, failures: 0, error: null, notice: null, recoveries: 0, startup: {}, firstImage: null, linkNotes: [] };
window.convscope = probe;
// The memory the page holds: the wasm instances' (their size, and what their allocators hold
// now) and the JS heap's (Chromium), in bytes.
probe.memory = () => ({ wasm: rt.wasmBytes(), live: rt.liveBytes(), js: performance.memory ? performance.memory.usedJSHeapSize : null });
// Raw logits of the current image, for tests that compare backends.
probe.logits = async (fit = state.fit) => {
  const { rgba, width, height } = state.image;
  return Array.from(await state.model.logits(rgba, width, height, fit));
};

function setStatus(text, ready = false) {
  $('status-text').textContent = text;
  $('status').classList.toggle('ready', ready);
}

let errorsShown = 0;

// The message box (role=alert): an error, or a notice that is no failure; either clears
// when a later action succeeds.
function showInBox(message) {
  errorsShown += 1;
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

function showError(message) {
  showInBox(message);
  probe.error = message;
  probe.failures += 1;
}

function showNotice(message) {
  showInBox(message);
  probe.notice = message;
}

function clearError() {
  $('error').hidden = true;
  probe.error = null;
  probe.notice = null;
}

// Run page work one job at a time (the runtime's queue); report failures in the page; the
// URL follows every finished job. Work that was cancelled or superseded is no failure. An
// error shown before a job was asked for goes once that job succeeds: it is about the past.
function enqueue(job) {
  const shown = $('error').hidden ? null : errorsShown;
  return rt.enqueue(job).then((v) => {
    if (shown !== null && shown === errorsShown) clearError();
    updateHash();
    return v;
  }, (e) => {
    if (superseded(e)) return;
    // The GPU went away under this job: the page moves to the CPU and redraws (no error).
    if (rt.isDeviceLost(e) && probe.backend === 'webgpu') {
      recover(e.message);
      return;
    }
    showError(e && e.message ? e.message : String(e));
    setStatus('Ready (the last action failed)', true);
  });
}

// A new image, model or preprocessing: the work still running for the old one is stopped
// now, rather than finishing before the new request's turn in the queue.
function request(job) {
  attention.cancel();
  return enqueue(job);
}

const decode = rt.decode;

// A lost GPU device (a driver reset, a tab in the background too long): the page says so,
// moves to the CPU engine and redraws what it showed, with the same model (bundled or
// imported), image, comparison and view settings, without a reload.
let recovering = null;
function recover(why) {
  if (recovering || probe.backend !== 'webgpu') return recovering;
  rt.forgetDevice(why);
  const link = currentLink();
  setStatus('The GPU device was lost: moving to the CPU…');
  recovering = request(async () => {
    state.engine = await rt.engine('cpu');
    const decided = await rt.decide('auto');
    probe.backend = state.engine.backend;
    probe.note = decided.note;
    if (state.onnx()) await onnx.reselect(`onnx:${state.modelName}`);
    else await loadModel(state.modelName);
    restoreViews(link);
    await predict(true);
    probe.recoveries += 1;
    const reason = (why.match(/the GPU device was lost \(([^)]*)\)/)?.[1] ?? why).replace(/\.$/, '');
    showNotice(`The GPU device was lost (${reason}). convscope moved to the CPU and drew the view again; reload the page to try WebGPU again.`);
  }).finally(() => { recovering = null; });
  return recovering;
}
rt.onDeviceLost((why) => recover(why));

function drawImage(img) {
  const canvas = $('image-canvas');
  const scale = Math.min(1, 448 / img.width, 340 / img.height);
  canvas.width = Math.round(img.width * scale);
  canvas.height = Math.round(img.height * scale);
  canvas.getContext('2d').drawImage(img.bitmap, 0, 0, canvas.width, canvas.height);
  const { width, height } = img.original || img;
  const reduced = width !== img.width ? ` (analysed at ${img.width}x${img.height})` : '';
  canvas.setAttribute('aria-label', `the chosen image: ${img.name}, ${width}x${height}${reduced}`);
}

function drawModelView(rgba) {
  const { width, height } = state.info.input;
  const canvas = $('model-view');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
}

function drawTop(top) {
  const list = $('top5');
  list.replaceChildren(...top.map((p) => {
    const li = document.createElement('li');
    li.dataset.index = p.index;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${(p.prob * 100).toFixed(1)}%`;
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = p.label;
    const prob = document.createElement('span');
    prob.className = 'prob';
    prob.textContent = `${(p.prob * 100).toFixed(1)}%`;
    li.append(bar, label, prob);
    return li;
  }));
}

// Classify the image and keep its activations for the views; `reanalyse` when the input
// preprocessing changed (the comparison image is then analysed again too).
async function predict(reanalyse = false) {
  if (!state.model || !state.image) return;
  const { rgba, width, height, name } = state.image;
  setStatus(`Running ${state.info.name} on ${probe.backend}…`);
  const t0 = performance.now();
  const analysis = await state.model.analyse(name, rgba, width, height, state.fit);
  const top = analysis.top(5);
  const ms = performance.now() - t0;
  // The views hold their own share of the analysis: the page's handle can go.
  state.analysis?.free();
  state.analysis = analysis;
  drawTop(top);
  drawModelView(analysis.modelView());
  if (probe.firstPredictionMs === null) probe.firstPredictionMs = performance.now();
  $('timing').textContent = `${state.info.name} on ${probe.backend}: ${ms.toFixed(0)} ms`;
  await activations.imageChanged(top[0], analysis, reanalyse);
  await attention.imageChanged(top, analysis);
  patterns.imageChanged();
  setStatus(`Ready — ${state.info.name} on ${probe.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}${state.backend === 'auto' ? ` (${probe.note})` : ''}`, true);
  // Counted once everything for this image is drawn (tests wait on it).
  probe.lastTop = top;
  probe.lastMs = ms;
  probe.runs += 1;
}

// Make `model` the page's model; `source` is what the patterns worker loads its own copy
// from: `{ bytes, onnx }` (`onnx()` gives an imported model's preprocessing, else null).
function useModel(model, name, source) {
  if (state.model) state.model.free();
  state.model = model;
  state.info = model.info();
  state.modelName = name;
  state.modelBytes = source.bytes;
  state.onnx = source.onnx || (() => null);
  state.analysis?.free();
  state.analysis = null;
  showModelInputs(name);
  activations.modelChanged(model.activationsView());
  attention.modelChanged(model.attentionView());
  patterns.modelChanged();
  examples.modelChanged();
}

async function loadModel(name) {
  setStatus(`Loading model ${name}…`);
  const bytes = await rt.bundledBytes(name);
  useModel(state.engine.loadModel(bytes), name, { bytes });
}

// Show a decoded image; `sample` is its sample id, or null for the person's own file.
async function showImage(img, sample) {
  clearError();
  state.image = img;
  state.sample = sample;
  for (const b of $('samples').children) b.setAttribute('aria-pressed', String(b.dataset.sample === sample));
  drawImage(img);
  await predict();
}

async function useImage(blob, name) {
  await showImage(await decode(blob, name), null);
}

async function useSample(file) {
  await showImage(await rt.sample(file), file);
}

function setupSamples() {
  for (const file of SAMPLES) {
    const button = document.createElement('button');
    button.type = 'button';
    button.title = file;
    button.setAttribute('aria-pressed', 'false');
    button.dataset.sample = file;
    const img = document.createElement('img');
    img.src = `samples/${file}`;
    img.alt = `sample: ${file.replace(/\.\w+$/, '')}`;
    button.append(img);
    button.addEventListener('click', () => request(() => useSample(file)));
    $('samples').append(button);
  }
}

// Files opened or dropped: an .onnx model (with a labels file beside it), a zip of images
// (a set for the dataset examples), or an image.
function useFiles(files) {
  const model = files.find((f) => /\.onnx$/i.test(f.name));
  const labels = files.find((f) => /\.(txt|json)$/i.test(f.name));
  const zip = files.find((f) => /\.zip$/i.test(f.name));
  if (model) request(() => onnx.open(model));
  if (labels) enqueue(() => onnx.labels(labels));
  if (zip) examples.openZip(zip);
  const image = files.find((f) => f !== model && f !== labels && f !== zip);
  if (image) request(() => useImage(image, image.name));
}

function setupInputs() {
  $('file-input').addEventListener('change', (e) => {
    useFiles([...e.target.files]);
    e.target.value = '';
  });
  const zone = $('drop-zone');
  for (const type of ['dragenter', 'dragover']) {
    document.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add('dragging'); });
  }
  document.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    // A folder dropped is a set of images for the dataset examples.
    const folder = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).find((en) => en && en.isDirectory);
    if (folder) {
      examples.openFolderEntry(folder);
      $('examples-panel').scrollIntoView({ block: 'nearest' });
      return;
    }
    useFiles([...e.dataTransfer.files]);
  });
  document.addEventListener('paste', (e) => {
    const item = [...e.clipboardData.items].find((i) => i.type.startsWith('image/'));
    if (item) request(() => useImage(item.getAsFile(), 'pasted image'));
  });
  $('model-select').addEventListener('change', (e) => request(async () => {
    if (e.target.value.startsWith('onnx:')) {
      await onnx.reselect(e.target.value);
      return;
    }
    await loadModel(e.target.value);
    await predict(true);
  }));
  $('fit-select').addEventListener('change', (e) => request(async () => {
    state.fit = e.target.value;
    await predict(true);
  }));
  // A new backend needs a new engine: the page reloads with the same link. Before the page
  // has booted (no model yet, so no view has settings), that is the link it was opened with.
  $('backend-select').addEventListener('change', (e) => {
    state.backend = e.target.value;
    const link = state.booted ? currentLink() : { ...readLink().state, backend: state.backend };
    const query = new URLSearchParams(location.search);
    query.delete('backend');
    history.replaceState(null, '', `${location.pathname}${query.size ? `?${query}` : ''}${toHash(link, { all: true })}`);
    location.reload();
  });
}

// A drawing pad for small one-channel models (the digit CNN): white strokes on black,
// predicted on every stroke.
function setupDrawing() {
  const canvas = $('draw-canvas');
  // The canvas is made and painted black at the first stroke (its CSS background is black till
  // then): done as the page starts, it took 30-140 ms of the page's thread on this machine.
  let ctx = null;
  const clear = () => {
    ctx ??= canvas.getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  let last = null;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => {
    if (!ctx) clear();
    last = at(e);
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 22;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  });
  canvas.addEventListener('pointerup', () => {
    if (!last) return; // no stroke began on the pad
    last = null;
    request(async () => {
      const blob = await new Promise((ok) => canvas.toBlob(ok, 'image/png'));
      await useImage(blob, 'your drawing');
    });
  });
  $('draw-clear').addEventListener('click', clear);
}

const examples = setupExamples({
  info: () => state.info,
  model: () => state.model,
  modelName: () => state.modelName,
  modelBytes: () => state.modelBytes,
  onnx: () => state.onnx(),
  backend: () => probe.backend,
  fit: () => state.fit,
  open: (blob, name) => request(() => useImage(blob, name)),
  probe,
});

const activations = setupActivations({
  info: () => state.info,
  model: () => state.model,
  fit: () => state.fit,
  enqueue: (job) => enqueue(job),
  examples,
  probe,
});

const attention = setupAttention({
  info: () => state.info,
  image: () => state.image,
  fit: () => state.fit,
  modelBytes: () => state.modelBytes,
  onnx: () => state.onnx(),
  backend: () => probe.backend,
  enqueue: (job) => enqueue(job),
  probe,
});

const patterns = setupPatterns({
  examples,
  info: () => state.info,
  analysis: () => state.analysis,
  modelName: () => state.modelName,
  modelBytes: () => state.modelBytes,
  onnx: () => state.onnx(),
  backend: () => probe.backend,
  enqueue: (job) => enqueue(job),
  probe,
});

const onnx = setupOnnx({
  engine: () => state.engine,
  use: async (model, name, source) => {
    clearError();
    useModel(model, name, source);
    await predict(true);
  },
  enqueue: (job) => enqueue(job),
  presets: () => onnxPresets(),
});

const VIEWS = { activations, attention, patterns };

// The link to what is shown: the common settings and every view's.
function currentLink() {
  return {
    ...DEFAULTS,
    view: state.view,
    model: state.onnx() ? DEFAULTS.model : state.modelName || DEFAULTS.model,
    image: state.sample || DEFAULTS.image,
    fit: state.fit,
    backend: state.backend,
    ...activations.settings(),
    ...attention.settings(),
    ...patterns.settings(),
  };
}

// The hash follows the page (replaceState: no history entry per change).
function updateHash() {
  if (!state.booted) return;
  const hash = toHash(currentLink(), { all: true });
  if (hash !== location.hash) history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
}

// The view a person works in is the one a link names; the hash follows each change.
for (const [name, id] of [['activations', 'activations-panel'], ['attention', 'attention-panel'], ['patterns', 'patterns-panel']]) {
  for (const type of ['change', 'click']) {
    $(id).addEventListener(type, (e) => {
      if (e.target.closest('.share')) return;
      state.view = name;
      setTimeout(updateHash, 0);
    });
  }
}

const share = setupShare({
  link: (view) => ({ ...currentLink(), view }),
  own: () => ({ image: state.sample === null && state.image ? state.image.name : null, model: state.onnx() ? state.modelName : null }),
  probe,
});

function showModelInputs(name) {
  $('draw-panel').hidden = !(state.info?.drawable && name === state.modelName);
  onnx.shown(state.onnx() !== null && name === state.modelName);
}

// The link's settings: the hash, over the older query form (?backend=cpu&image=coffee.png).
function readLink() {
  const merged = new URLSearchParams(location.search);
  for (const [k, v] of new URLSearchParams(location.hash.replace(/^#/, ''))) merged.set(k, v);
  return parseHash(pairsToHash(merged));
}

// Give every view its settings from a link's state, checked against the page's model
// (layers, classes, methods); returns the messages for the settings that did not fit.
function restoreViews(link) {
  const checked = checkAgainstModel(link, { ...state.info, methods: attentionMethods() });
  for (const v of Object.values(VIEWS)) v.restore(checked.state);
  return checked.errors;
}

function showLinkNotes(notes) {
  probe.linkNotes = notes;
  const box = $('link-notes');
  box.replaceChildren(...notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  box.parentElement.hidden = notes.length === 0;
}

async function main() {
  const link = readLink();
  const notes = [...link.errors];
  const wanted = link.state;
  state.backend = wanted.backend;
  state.fit = wanted.fit;
  state.view = wanted.view;
  $('backend-select').value = wanted.backend;
  $('model-select').value = wanted.model;
  $('fit-select').value = wanted.fit;
  setupSamples();
  setupInputs();
  setupDrawing();
  showModelInputs(wanted.model);
  setStatus('Loading the engine…');
  const mark = (name) => { probe.startup[name] = Math.round(performance.now()); };
  mark('script');
  // The model's weights and the image download while the wasm compiles (both are cached by
  // the runtime; a failure shows where they are used).
  rt.bundledBytes(wanted.model).catch(() => {});
  rt.sample(wanted.image).catch(() => {});
  await rt.loadWasm();
  mark('wasm_ready');
  const decided = await rt.decide(wanted.backend);
  state.engine = await rt.engine(wanted.backend);
  mark('engine_ready');
  probe.backend = state.engine.backend;
  probe.note = state.engine.backend === decided.backend ? decided.note : state.engine.note;
  if (wanted.backend === 'webgpu' && probe.backend !== 'webgpu') showError(probe.note);
  await loadModel(wanted.model);
  mark('model_ready');
  notes.push(...restoreViews(wanted));
  showLinkNotes(notes);
  probe.ready = true;
  await useSample(wanted.image);
  probe.firstImage = rt.usedHeadImage() ? 'head' : 'fetched';
  state.booted = true;
  if (state.view !== 'activations') $(`${state.view}-panel`).scrollIntoView();
  if (state.view === 'patterns' && /(^|[#&?])(player|channels)=/.test(location.hash)) patterns.run();
}

// Escape closes what is zoomed (the activations' zoom, the patterns' zoom).
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  for (const [panel, close] of [['zoom-panel', 'zoom-close'], ['pattern-zoom', 'pattern-zoom-close']]) {
    if (!$(panel).hidden) $(close).click();
  }
});

// For tests: resolves once every job asked for so far has run.
probe.settle = () => rt.enqueue(() => null);

// Test hook: lose the GPU device as a driver reset would (the page then recovers).
if (navigator.webdriver) probe.loseDevice = () => rt.loseDevice();

// The service worker registers once the start-up job is over (the first prediction and the
// views drawn for it, or its failure), or 10 s after the page opened if it is not.
registerOffline({ after: enqueue(main) });
