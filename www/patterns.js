// The filter-patterns view: for a page of a layer's channels, the image each one responds to
// most, optimized from noise in a worker (its own engine) so the page stays responsive;
// progress as it goes, cancel, a pattern zoomed beside the channel's map on the image, PNG
// downloads. The engine computes and draws the figures; this file only shows them.
import { patternGallery } from './pkg/convscope_web.js';
import { download, imageData, paint } from './draw.js';
import { engineWorker, loadMessage } from './runtime.js';

const $ = (id) => document.getElementById(id);
const PAGE = 16; // channels per page: one optimization, one image per channel
const DRAW_EVERY_MS = 400; // how often the worker sends the current images
const ZOOM_PX = 320;

/** Wire the view to the page. `ctx` gives `info()`, `analysis()` (the image's), `modelName()`,
 * `onnx()` (an imported model's preprocessing, or null), `modelBytes()`, `backend()`,
 * `enqueue(job)` and `probe`. Returns the hooks the page calls when the model or the image
 * changes, the view's link settings, and `run()`. */
export function setupPatterns(ctx) {
  const { probe } = ctx;
  const view = { worker: null, loaded: null, runId: 0, running: null, result: null, start: 0, zoom: null, explicit: null };
  probe.patterns = { state: 'idle', step: 0, steps: 0, msPerStep: null, seconds: null, own: null, off: [], error: null };
  const option = (value, text) => Object.assign(document.createElement('option'), { value, textContent: text });
  const spatial = () => ctx.info().layers.filter((l) => l.shape.length === 3);
  const layer = () => spatial().find((l) => l.id === $('pattern-layer').value);

  function fillLayers() {
    const layers = spatial();
    $('pattern-layer').replaceChildren(...layers.map((l) => option(l.id, `${l.id} — ${l.shape.join('×')}`)));
    // A middle layer: textures rather than plain colours, quick to optimize.
    $('pattern-layer').value = defaultLayer().id;
    view.start = 0;
    view.explicit = null;
    showPage();
  }

  // The model says where its patterns view starts.
  function defaultLayer() {
    const layers = spatial();
    return layers.find((l) => l.id === ctx.info().patternLayer) || layers[0];
  }

  function showPage() {
    const l = layer();
    if (!l) return;
    const total = l.shape[0];
    const end = Math.min(view.start + PAGE, total);
    $('pattern-page').textContent = view.explicit ? `channels ${view.explicit.join(', ')} of ${total}` : `channels ${view.start}–${end - 1} of ${total}`;
    $('pattern-prev').disabled = view.start === 0;
    $('pattern-next').disabled = end >= total;
  }

  function channels() {
    if (view.explicit) return view.explicit;
    const total = layer().shape[0];
    return Array.from({ length: Math.min(PAGE, total - view.start) }, (_, i) => view.start + i);
  }

  // The worker, with this model loaded in it (started on first use, restarted for a new model).
  function worker() {
    if (view.loaded) return view.loaded;
    view.worker = engineWorker();
    view.worker.onmessage = (e) => onMessage(e.data);
    view.worker.onerror = (e) => fail(`the patterns worker failed: ${e.message || 'unknown error'}`);
    view.loaded = new Promise((ok, bad) => { view.onLoaded = ok; view.onLoadFailed = bad; });
    view.worker.postMessage(...loadMessage({ backend: ctx.backend(), bytes: ctx.modelBytes(), onnx: ctx.onnx() }));
    return view.loaded;
  }

  function fail(message) {
    probe.patterns.state = 'error';
    probe.patterns.error = message;
    $('pattern-status').textContent = `Patterns failed: ${message}`;
    running(false);
    if (view.onLoadFailed) view.onLoadFailed(new Error(message));
  }

  function running(on) {
    $('pattern-run').disabled = on;
    $('pattern-cancel').disabled = !on;
    $('pattern-layer').disabled = on;
  }

  function makeGrid(r) {
    const cells = r.channels.map((ch, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'pattern-cell';
      b.dataset.channel = ch;
      const canvas = document.createElement('canvas');
      canvas.width = r.size;
      canvas.height = r.size;
      canvas.setAttribute('aria-label', `pattern of channel ${ch} of ${r.layer}`);
      const label = document.createElement('span');
      label.className = 'label';
      label.innerHTML = `<span>${ch}</span><span class="off"></span>`;
      b.append(canvas, label);
      b.addEventListener('click', () => zoom(i));
      return b;
    });
    $('pattern-grid').replaceChildren(...cells);
  }

  function drawImages(r) {
    const plane = r.size * r.size * 4;
    const cells = $('pattern-grid').children;
    r.channels.forEach((_, i) => {
      const canvas = cells[i] && cells[i].querySelector('canvas');
      if (canvas) canvas.getContext('2d').putImageData(imageData(r.rgba.subarray(i * plane, (i + 1) * plane), r.size, r.size), 0, 0);
    });
    if (view.zoom !== null) zoom(view.zoom, false);
  }

  function onMessage(msg) {
    if (msg.type === 'loaded') {
      probe.patterns.backend = msg.backend;
      view.onLoaded();
      return;
    }
    if (msg.type === 'error') return fail(msg.message);
    const r = view.running;
    if (!r || msg.id !== r.id) return;
    if (msg.type === 'started') {
      Object.assign(r, { objective: msg.info.objective, fit: msg.info.fit, rectified: msg.info.rectified });
    } else if (msg.type === 'progress') {
      r.rgba = msg.rgba;
      r.step = msg.step;
      drawImages(r);
      $('pattern-bar').value = msg.step / msg.steps;
      $('pattern-status').textContent = `step ${msg.step} of ${msg.steps} · ${msg.msPerStep.toFixed(0)} ms a step for ${r.channels.length} channels on ${probe.patterns.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}`;
      Object.assign(probe.patterns, { state: 'running', step: msg.step, steps: msg.steps, msPerStep: msg.msPerStep });
    } else if (msg.type === 'done') {
      r.own = msg.own;
      // The engine says which channels the patterns left off.
      const off = r.channels.filter((_, i) => msg.off[i]);
      r.off = off;
      r.channels.forEach((ch, i) => {
        const mark = $('pattern-grid').children[i].querySelector('.off');
        mark.textContent = off.includes(ch) ? 'off' : '';
        mark.title = off.includes(ch) ? 'its own pattern leaves this channel at 0: it may never switch on' : '';
      });
      view.result = r;
      view.running = null;
      running(false);
      $('pattern-export').disabled = false;
      $('pattern-status').textContent = `${r.objective}: ${r.steps} steps in ${msg.seconds.toFixed(1)} s (${(msg.seconds * 1000 / r.steps).toFixed(0)} ms a step), ${r.size} px, seed ${r.seed}${r.fit === 'model' ? ', resized to the model input' : ''}${off.length ? ` · off on their own pattern: ${off.join(', ')}` : ''}`;
      Object.assign(probe.patterns, { state: 'done', seconds: msg.seconds, own: msg.own, off, layer: r.layer, channels: r.channels, size: r.size, fit: r.fit });
    } else if (msg.type === 'cancelled') {
      view.running = null;
      running(false);
      // What was drawn so far stays, and can be saved.
      if (r.rgba) {
        Object.assign(r, { off: [], steps: r.step });
        view.result = r;
        $('pattern-export').disabled = false;
      }
      $('pattern-status').textContent = `Cancelled at step ${msg.step}; the patterns as they were then are kept.`;
      probe.patterns.state = 'cancelled';
    }
  }

  async function run() {
    const l = layer();
    if (!l || !ctx.info()) return;
    const r = {
      id: ++view.runId, layer: l.id, channels: channels(), size: Number($('pattern-size').value),
      steps: Number($('pattern-steps').value), seed: Math.max(0, Math.floor(Number($('pattern-seed').value) || 0)),
      fit: $('pattern-fit').checked ? 'as-is' : 'model', rgba: null, step: 0,
    };
    view.running = r;
    view.zoom = null;
    $('pattern-zoom').hidden = true;
    $('pattern-export').disabled = true;
    running(true);
    makeGrid(r);
    $('pattern-bar').value = 0;
    $('pattern-status').textContent = 'Starting…';
    Object.assign(probe.patterns, { state: 'starting', step: 0, steps: r.steps, error: null, own: null, off: [] });
    try {
      await worker();
    } catch {
      return;
    }
    view.worker.postMessage({ type: 'run', id: r.id, layer: r.layer, channels: r.channels, size: r.size, steps: r.steps, seed: r.seed, fit: r.fit, drawEveryMs: DRAW_EVERY_MS });
  }

  function current() {
    return view.running || view.result;
  }

  async function zoom(i, scroll = true) {
    const r = current();
    if (!r || !r.rgba) return;
    view.zoom = i;
    const ch = r.channels[i];
    for (const b of $('pattern-grid').children) b.setAttribute('aria-pressed', String(Number(b.dataset.channel) === ch));
    const plane = r.size * r.size * 4;
    const pattern = $('pattern-zoom-canvas');
    paint(pattern, { width: r.size, height: r.size, rgba: r.rgba.subarray(i * plane, (i + 1) * plane) });
    pattern.setAttribute('aria-label', `pattern of channel ${ch} of ${r.layer}, large`);
    $('pattern-zoom-title').textContent = `Channel ${ch} of ${r.layer}`;
    $('pattern-zoom').hidden = false;
    ctx.examples.show($('pattern-zoom-examples'), r.layer, ch);
    try {
      // In the page's queue: a model switch cannot pull the analysis away mid-draw.
      const map = await ctx.enqueue(async () => {
        const analysis = ctx.analysis();
        if (!analysis) throw new Error('no image has been analysed yet');
        return analysis.channelOnImage(r.layer, ch, ZOOM_PX, 0.55);
      });
      if (!map) throw new Error('the map could not be drawn');
      paint($('pattern-zoom-map'), map);
      $('pattern-zoom-map').setAttribute('aria-label', `channel ${ch} of ${r.layer} on the image, over it`);
      $('pattern-zoom-map-caption').textContent = `channel ${ch} on the image (from ${fmtNum(map.lo)} to ${fmtNum(map.hi)})`;
      probe.patterns.zoomed = { channel: ch, lo: map.lo, hi: map.hi };
    } catch (e) {
      $('pattern-zoom-map-caption').textContent = `no map: ${e.message}`;
    }
    if (scroll) $('pattern-zoom').scrollIntoView({ block: 'nearest' });
  }

  const fmtNum = (v) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : v.toPrecision(3));

  function exportGallery() {
    const r = view.result;
    if (!r) return;
    const labels = r.channels.map(String);
    const notes = r.channels.map((ch) => (r.off.includes(ch) ? 'OFF' : ''));
    const title = `${ctx.info().name} ${r.layer} - ${r.steps} steps, ${r.size} px, seed ${r.seed}`;
    const pic = patternGallery(r.rgba, r.size, labels, notes, title, Math.ceil(Math.sqrt(r.channels.length)), Math.max(r.size, 96));
    return download(pic, `${ctx.modelName()}-${r.layer}-patterns-${r.channels[0]}-${r.channels.at(-1)}.png`, probe);
  }

  function exportOne() {
    const r = current();
    if (!r || view.zoom === null) return;
    const plane = r.size * r.size * 4;
    const i = view.zoom;
    return download({ width: r.size, height: r.size, rgba: r.rgba.slice(i * plane, (i + 1) * plane) }, `${ctx.modelName()}-${r.layer}-channel-${r.channels[i]}.png`, probe);
  }

  function stopWorker() {
    if (view.worker) view.worker.terminate();
    view.worker = null;
    view.loaded = null;
    view.running = null;
    running(false);
  }

  $('pattern-layer').addEventListener('change', () => { view.start = 0; view.explicit = null; showPage(); });
  $('pattern-prev').addEventListener('click', () => { view.start = Math.max(0, (view.explicit ? view.explicit[0] : view.start) - PAGE); view.explicit = null; showPage(); });
  $('pattern-next').addEventListener('click', () => { view.start = (view.explicit ? view.explicit[0] : view.start) + PAGE; view.explicit = null; showPage(); });
  $('pattern-run').addEventListener('click', () => run());
  $('pattern-cancel').addEventListener('click', () => {
    if (view.running && view.worker) view.worker.postMessage({ type: 'cancel', id: view.running.id });
  });
  $('pattern-export').addEventListener('click', () => exportGallery());
  $('pattern-zoom-download').addEventListener('click', () => exportOne());
  $('pattern-zoom-close').addEventListener('click', () => { $('pattern-zoom').hidden = true; view.zoom = null; ctx.examples.hide($('pattern-zoom-examples')); });

  return {
    modelChanged() {
      // A run in progress stops with the model it was for, and says so.
      if (view.running) {
        $('pattern-status').textContent = 'Stopped: the model changed. Compute patterns again for this one.';
        probe.patterns.state = 'cancelled';
      }
      $('pattern-bar').value = 0;
      stopWorker();
      view.result = null;
      $('pattern-grid').replaceChildren();
      $('pattern-zoom').hidden = true;
      $('pattern-export').disabled = true;
      if (probe.patterns.state !== 'cancelled') probe.patterns.state = 'idle';
      fillLayers();
    },
    imageChanged() {
      if (view.zoom !== null) zoom(view.zoom, false);
    },
    // The link's settings for this view (urlstate.js keys).
    settings() {
      const l = layer();
      return {
        player: l && l.id !== defaultLayer().id ? l.id : null,
        channels: l && (view.explicit || view.start > 0) ? channels() : null,
        steps: Number($('pattern-steps').value),
        size: Number($('pattern-size').value),
        seed: Math.max(0, Math.floor(Number($('pattern-seed').value) || 0)),
        pfit: $('pattern-fit').checked ? 'as-is' : 'model',
      };
    },
    // Take a link's settings (already checked against the model).
    restore(s) {
      if (s.player) $('pattern-layer').value = s.player;
      view.explicit = s.channels && s.channels.length ? s.channels : null;
      view.start = view.explicit ? view.explicit[0] : 0;
      $('pattern-steps').value = String(s.steps);
      $('pattern-size').value = String(s.size);
      $('pattern-seed').value = String(s.seed);
      $('pattern-fit').checked = s.pfit === 'as-is';
      showPage();
    },
    run,
  };
}
