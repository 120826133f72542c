// Dataset examples: for a channel, the images of a set that drive it hardest, beside its map
// on the current image (activations) and its pattern (patterns). A set is the bundled
// samples, a folder (opened or dropped) or a zip; it is indexed in a worker (the engine's
// ExampleIndex: one forward pass an image, per channel only its peak and statistics kept),
// with progress, the time left and cancel, and what was indexed is kept. The index and a
// small copy of each example's image stay in this browser (IndexedDB), per model and set:
// a reload finds them. Nothing leaves the machine. No tensor maths here.
import { engineWorker, loadMessage, SAMPLES, siteUrl } from './runtime.js';
import { timeLeft } from './longwork.js';
import { fmt, paint, pct } from './draw.js';
import { droppedSet, folderSet, zipSet } from './sets.js';

const $ = (id) => document.getElementById(id);
const TOP = 9; // examples kept a channel
const MAX_LAYERS = 24; // layers indexed at most (spread over the network)
const TILE_PX = 96;
const SAMPLES_SET = 'the bundled samples';

// ---- the browser's store: `indexes` (key [model, set]: {json, count, updated}) and
// `pictures` (key [model, set, image]: a PNG Blob of an example's image).
let opened = null;
function db() {
  opened ??= new Promise((ok, bad) => {
    const r = indexedDB.open('convscope-examples', 1);
    r.onupgradeneeded = () => {
      r.result.createObjectStore('indexes');
      r.result.createObjectStore('pictures');
    };
    r.onsuccess = () => ok(r.result);
    r.onerror = () => bad(r.error);
  });
  return opened;
}

async function store(names, mode, fn) {
  const d = await db();
  return new Promise((ok, bad) => {
    const t = d.transaction(names, mode);
    const req = fn(...[names].flat().map((n) => t.objectStore(n)));
    t.oncomplete = () => ok(req && 'result' in req ? req.result : undefined);
    t.onerror = () => bad(t.error);
    t.onabort = () => bad(t.error || new Error('the browser refused to store the index'));
  });
}

const inSet = (model, set) => IDBKeyRange.bound([model, set, ''], [model, set, '\uffff']);

/** The sets indexed for `model` in this browser: [{set, count}]. */
async function storedSets(model) {
  const keys = await store('indexes', 'readonly', (s) => s.getAllKeys(IDBKeyRange.bound([model, ''], [model, '\uffff'])));
  return keys.map(([, set]) => set);
}

// The samples' files, fetched once a page (a model switch indexes them again, from memory);
// a failed fetch is forgotten, so the next choice tries again.
let samples = null;

function samplesSet() {
  samples ??= Promise.all(
    SAMPLES.map(async (f) => {
      const r = await fetch(siteUrl(`samples/${f}`));
      if (!r.ok) throw new Error(`samples/${f}: HTTP ${r.status}`);
      return { name: f, blob: await r.blob() };
    }),
  ).catch((e) => {
    samples = null;
    throw e;
  });
  return samples.then((files) => ({ name: SAMPLES_SET, files }));
}

/** The layers a set is indexed for: the feature-map layers that are not a part of another
 * (`blocks.3`, not `blocks.3.dw`: a network's blocks, as the menus list them), at most
 * MAX_LAYERS of them spread over the network (the last always), and the patterns view's
 * first layer. */
function indexLayers(info) {
  const spatial = info.layers.filter((l) => l.shape.length === 3).map((l) => l.id);
  const ids = new Set(info.layers.map((l) => l.id));
  const outer = spatial.filter((id) => !id.split('.').some((_, i, parts) => i > 0 && ids.has(parts.slice(0, i).join('.'))));
  const spread = outer.length <= MAX_LAYERS ? outer : Array.from({ length: MAX_LAYERS }, (_, i) => outer[Math.round((i * (outer.length - 1)) / (MAX_LAYERS - 1))]);
  const chosen = new Set(spread);
  if (info.patternLayer) chosen.add(info.patternLayer);
  return spatial.filter((id) => chosen.has(id));
}

/** Wire the index panel and the examples strips. `ctx` gives `info()`, `model()` (the
 * page's WebModel), `modelName()`, `modelBytes()`, `onnx()`, `backend()`, `fit()`,
 * `open(blob, name)` (show an image in the app) and `probe`. */
export function setupExamples(ctx) {
  const { probe } = ctx;
  const view = {
    set: null, // {name, files: [{name, blob}] | null (known from the store only)}
    index: null, // the page's ExampleIndex of the set (for reading), or null
    worker: null, loaded: null, job: 0, indexing: null, tilesId: 0, strips: new Map(),
  };
  probe.examples = { state: 'idle', set: null, done: 0, total: 0, count: 0, imagesPerSecond: null, seconds: null, skipped: [], shown: null, runs: 0 };
  // For tests: channel `channel` of `layer` as the index holds it.
  probe.examples.channel = (layer, channel) => view.index?.examples(layer, channel) ?? null;
  const key = () => [ctx.modelName(), view.set.name];

  function status(text) {
    $('index-status').textContent = text;
  }

  function worker() {
    if (view.loaded) return view.loaded;
    const w = engineWorker();
    view.worker = w;
    view.loaded = new Promise((ok, bad) => {
      w.onmessage = (e) => {
        const msg = e.data;
        if (msg.type === 'loaded') ok();
        else if (msg.type === 'error' && msg.id === undefined) bad(new Error(msg.message));
        else onMessage(msg);
      };
      w.onerror = (e) => bad(new Error(`the examples worker failed: ${e.message || 'unknown error'}`));
    });
    w.postMessage(...loadMessage({ backend: ctx.backend(), bytes: ctx.modelBytes(), onnx: ctx.onnx() }));
    view.loaded.catch((e) => fail(e.message));
    return view.loaded;
  }

  function stopWorker() {
    view.worker?.terminate();
    view.worker = null;
    view.loaded = null;
    view.indexing = null;
    running(false);
  }

  function fail(message) {
    status(`Indexing failed: ${message}`);
    probe.examples.state = 'error';
    probe.examples.error = message;
    running(false);
  }

  function running(on) {
    $('index-run').disabled = on;
    $('index-cancel').disabled = !on;
    $('set-select').disabled = on;
  }

  // Keep the index and the pictures of its examples (the others' go).
  async function save([model, set], json, kept, pictures = []) {
    await store(['indexes', 'pictures'], 'readwrite', (indexes, pics) => {
      indexes.put({ json, updated: Date.now() }, [model, set]);
      for (const p of pictures) pics.put(p.blob, [model, set, p.name]);
    });
    const keep = new Set(kept);
    const stored = await store('pictures', 'readonly', (s) => s.getAllKeys(inSet(model, set)));
    const gone = stored.filter(([, , name]) => !keep.has(name));
    if (gone.length) await store('pictures', 'readwrite', (s) => { for (const k of gone) s.delete(k); });
  }

  function adopt(json) {
    view.index?.free();
    view.index = json ? ctx.model().exampleIndex(json) : null;
    probe.examples.count = view.index ? view.index.count : 0;
  }

  function describe() {
    const set = view.set;
    if (!set) return 'Choose a set of images to index.';
    const count = view.index ? view.index.count : 0;
    const size = set.files ? set.files.length : null;
    const pending = set.files ? set.files.filter((f) => !view.index || !view.index.has(f.name)).length : 0;
    const layers = view.index ? view.index.info().layers.length : 0;
    if (!count) return size === null ? `${set.name}: nothing indexed yet.` : `${set.name}: ${size} images, none indexed yet. Index them to see each channel's top examples.`;
    const where = `${count} images of ${set.name} indexed for ${layers} layers (kept in this browser)`;
    if (size === null) return `${where}. Open the folder or zip again to index more of it.`;
    return pending ? `${where}; ${pending} not yet: Index goes on from there.` : `${where}: all of them.`;
  }

  let pending = []; // pictures waiting to be stored with the next save
  function onMessage(msg) {
    const job = view.indexing;
    if (msg.type === 'tile' || msg.type === 'tiles-done') return onTile(msg);
    if (msg.type === 'error') {
      if (job && msg.id === job.id) { view.indexing = null; fail(msg.message); }
      return;
    }
    if (!job || msg.id !== job.id) return;
    if (msg.type === 'index-progress') {
      pending.push(...msg.pictures);
      const s = { done: msg.done, total: msg.total };
      $('index-bar').value = msg.total ? msg.done / msg.total : 1;
      const rate = msg.done / Math.max(msg.seconds, 1e-3);
      status(`Indexing ${view.set.name}: ${msg.done} of ${msg.total} images · ${rate.toFixed(1)} images/s${msg.done < msg.total ? ` · ${timeLeft(s, msg.seconds)}` : ''}`);
      Object.assign(probe.examples, { state: 'indexing', done: msg.done, total: msg.total, count: msg.count, imagesPerSecond: rate });
    } else if (msg.type === 'index-saved') {
      const pics = pending;
      pending = [];
      job.saving = save(job.key, msg.json, msg.kept, pics).catch((e) => status(`The index could not be kept in this browser: ${e.message}`));
    } else if (msg.type === 'index-done' || msg.type === 'index-cancelled') {
      const pics = pending;
      pending = [];
      view.indexing = null;
      running(false);
      const cancelled = msg.type === 'index-cancelled';
      const finish = async () => {
        await job.saving;
        await save(job.key, msg.json, msg.kept, pics);
        // The set may have changed meanwhile (its run cancelled): this one's index was kept.
        if (view.set !== job.set) return;
        adopt(msg.json);
        const rate = msg.done / Math.max(msg.seconds, 1e-3);
        const skipped = msg.skipped.length ? ` Skipped ${msg.skipped.length}: ${msg.skipped.slice(0, 3).join('; ')}${msg.skipped.length > 3 ? '…' : ''}.` : '';
        status(`${cancelled ? `Cancelled after ${msg.done} of ${msg.total} images; what was indexed is kept. ` : `Indexed ${msg.done} images in ${msg.seconds.toFixed(1)} s (${rate.toFixed(1)} images/s). `}${describe()}${skipped}`);
        Object.assign(probe.examples, { state: cancelled ? 'cancelled' : 'done', done: msg.done, total: msg.total, count: msg.count, seconds: msg.seconds, imagesPerSecond: rate, skipped: msg.skipped });
        probe.examples.runs += 1;
        refreshStrips();
      };
      finish().catch((e) => fail(`the index could not be kept in this browser (${e.message})`));
    }
  }

  async function run() {
    const set = view.set;
    if (!set || view.indexing) return;
    if (!set.files) {
      status(`${describe()}`);
      return;
    }
    if (!set.files.length) {
      status(`${set.name} holds no images (PNG, JPEG, GIF, WebP or BMP).`);
      return;
    }
    const job = { id: ++view.job, set, key: key() };
    view.indexing = job;
    pending = [];
    running(true);
    $('index-bar').value = 0;
    status(`Indexing ${set.name}: starting…`);
    Object.assign(probe.examples, { state: 'indexing', done: 0, total: 0, error: null });
    try {
      await worker();
    } catch {
      return;
    }
    if (view.indexing !== job) return;
    const json = view.index ? view.index.toJson() : null;
    view.worker.postMessage({ type: 'index', id: job.id, json, layers: indexLayers(ctx.info()), top: TOP, fit: ctx.fit(), files: set.files });
  }

  function cancel() {
    if (view.indexing && view.worker) view.worker.postMessage({ type: 'index-cancel', id: view.indexing.id });
  }

  // Make `set` the current set: its index from the store, if any.
  async function choose(set) {
    if (view.indexing) cancel();
    view.set = set;
    const [model, name] = key();
    const saved = await store('indexes', 'readonly', (s) => s.get([model, name]));
    adopt(saved ? saved.json : null);
    await fillSets();
    status(describe());
    refreshStrips();
    probe.examples.set = set.name;
  }

  async function fillSets() {
    const names = new Set([SAMPLES_SET, ...(view.set ? [view.set.name] : []), ...(await storedSets(ctx.modelName()))]);
    const option = (value, text) => Object.assign(document.createElement('option'), { value, textContent: text });
    $('set-select').replaceChildren(...[...names].map((n) => option(n, n)), option(':folder', 'a folder…'), option(':zip', 'a zip file…'));
    if (view.set) $('set-select').value = view.set.name;
  }

  async function openFiles(make) {
    try {
      const set = await make();
      await choose(set);
      if (set.files && !set.files.length) status(`${set.name} holds no images (PNG, JPEG, GIF, WebP or BMP).`);
    } catch (e) {
      status(e.message);
      if (view.set) $('set-select').value = view.set.name;
    }
  }

  // ---- the strips: a channel's top examples, in the activations' and the patterns' zoom.
  function onTile(msg) {
    for (const strip of view.strips.values()) {
      if (strip.id !== msg.id) continue;
      if (msg.type === 'tiles-done') {
        strip.done = true;
        if (strip.probe) Object.assign(probe.examples.shown, { tiles: strip.drawn, tileValues: strip.values });
        continue;
      }
      const cell = strip.el.querySelectorAll('.example')[msg.i];
      if (!cell) continue;
      if (msg.error) {
        cell.querySelector('.value').textContent = `no picture: ${msg.error}`;
        continue;
      }
      paint(cell.querySelector('canvas'), msg.tile);
      strip.drawn += 1;
      strip.values[msg.i] = msg.tile.value;
    }
  }

  function refreshStrips() {
    for (const [el, s] of view.strips) show(el, s.layer, s.channel);
  }

  /** Show `channel` of `layer`'s top examples in `el` (a strip of the activations' or the
   * patterns' zoom). */
  async function show(el, layer, channel) {
    const strip = { el, layer, channel, id: ++view.tilesId, drawn: 0, values: [], done: false, probe: true };
    view.strips.set(el, strip);
    for (const other of view.strips.values()) if (other !== strip) other.probe = false;
    const head = document.createElement('p');
    head.className = 'hint';
    el.replaceChildren(head);
    el.hidden = false;
    const index = view.index;
    const indexed = index && index.info().layers.some((l) => l.id === layer);
    if (!index || !indexed) {
      head.textContent = index
        ? `${layer} is not in the index of ${view.set.name}.`
        : 'Top examples: index a set of images (Dataset examples) to see which images drive this channel hardest.';
      probe.examples.shown = { layer, channel, top: [] };
      return;
    }
    const ex = index.examples(layer, channel);
    // Read now: the index may be replaced (and freed) while the pictures load below.
    const fit = index.info().fit;
    head.textContent = `Top ${ex.top.length} of ${ex.images} images in ${view.set.name} · mean ${fmt(ex.mean)} · active at ${pct(ex.active)} of positions`;
    const grid = document.createElement('div');
    grid.className = 'examples';
    for (const e of ex.top) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'example';
      b.title = `${e.image}: ${fmt(e.value)} at row ${e.y}, column ${e.x} of ${layer} (pixels ${e.crop[0]},${e.crop[1]} ${e.crop[2]}x${e.crop[3]}); open it`;
      const canvas = document.createElement('canvas');
      canvas.width = TILE_PX;
      canvas.height = TILE_PX;
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', `${e.image}, where channel ${channel} responds ${fmt(e.value)}`);
      const v = document.createElement('span');
      v.className = 'value';
      v.textContent = `${fmt(e.value)} · ${e.image.split('/').pop()}`;
      b.append(canvas, v);
      b.addEventListener('click', () => openExample(e.image));
      grid.append(b);
    }
    el.append(grid);
    probe.examples.shown = { layer, channel, top: ex.top, tiles: 0, tileValues: [], mean: ex.mean, active: ex.active };
    if (!ex.top.length) return;
    const pictures = {};
    for (const e of ex.top) pictures[e.image] ??= await pictureOf(e.image);
    if (view.strips.get(el) !== strip) return;
    try {
      await worker();
    } catch {
      return;
    }
    if (view.strips.get(el) !== strip) return;
    view.worker.postMessage({ type: 'tiles', id: strip.id, layer, channel, examples: ex.top.map(({ image, y, x }) => ({ image, y, x })), hi: ex.top[0].value, size: TILE_PX, fit, pictures });
  }

  // An example's image: the set's own file while the page has it, else the copy kept.
  async function pictureOf(name) {
    const own = view.set.files?.find((f) => f.name === name);
    if (own) return own.blob;
    const [model, set] = key();
    return store('pictures', 'readonly', (s) => s.get([model, set, name]));
  }

  async function openExample(name) {
    const blob = await pictureOf(name);
    if (blob) ctx.open(blob, name.split('/').pop());
  }

  $('index-run').addEventListener('click', () => run());
  $('index-cancel').addEventListener('click', () => cancel());
  $('index-forget').addEventListener('click', async () => {
    if (!view.set || view.indexing) return;
    const [model, set] = key();
    await store(['indexes', 'pictures'], 'readwrite', (indexes, pics) => { indexes.delete([model, set]); pics.delete(inSet(model, set)); });
    adopt(null);
    status(`The index of ${set} is forgotten. ${describe()}`);
    refreshStrips();
  });
  $('set-select').addEventListener('change', (e) => {
    const v = e.target.value;
    if (v === ':folder') return $('set-folder').click();
    if (v === ':zip') return $('set-zip').click();
    if (v === SAMPLES_SET) return openFiles(samplesSet);
    openFiles(async () => ({ name: v, files: null }));
  });
  $('set-folder').addEventListener('change', (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    if (files.length) openFiles(async () => folderSet(files));
    else if (view.set) $('set-select').value = view.set.name;
  });
  $('set-zip').addEventListener('change', (e) => {
    const [file] = e.target.files;
    e.target.value = '';
    if (file) openFiles(() => zipSet(file));
    else if (view.set) $('set-select').value = view.set.name;
  });

  return {
    /** The page's model changed: the worker goes, the samples' index of this model comes. */
    async modelChanged() {
      if (view.indexing) status('Stopped: the model changed. Index again for this one.');
      stopWorker();
      adopt(null);
      view.strips.clear();
      try {
        await choose(view.set && view.set.name !== SAMPLES_SET && view.set.files ? view.set : await samplesSet());
      } catch (e) {
        status(`Dataset examples are unavailable: ${e.message}`);
      }
    },
    /** A folder dropped on the page (a FileSystemDirectoryEntry). */
    openFolderEntry: (entry) => openFiles(() => droppedSet(entry)),
    /** A zip file opened or dropped. */
    openZip: (file) => openFiles(() => zipSet(file)),
    show,
    /** A strip no longer shown (its zoom closed). */
    hide(el) {
      view.strips.delete(el);
      el.hidden = true;
    },
  };
}
