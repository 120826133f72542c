// <conv-scope>: one convscope view as a figure in any page.
//
//   <script type="module" src="https://example.org/convscope/convscope-element.js"></script>
//   <conv-scope view="attention" model="efficientnet-lite0" image="coffee.png" method="gradcam"></conv-scope>
//
// Attributes are the keys of a convscope link (urlstate.js), with `start="view"` (the default:
// run once scrolled into view) or `start="click"`, and `caption`. Every element on a page
// shares one wasm instance, one engine and one loaded copy of each model and image
// (runtime.js); their work is queued; until an element is on screen (or clicked) it shows a
// poster, the input picture, and fetches nothing else. Shadow DOM keeps the host's CSS out.
// The engine computes and draws the figures; this file only places them.
import { attentionMethods, patternGallery } from './pkg/convscope_web.js';
import * as rt from './runtime.js';
import { longWork } from './longwork.js';
import { DEFAULTS, checkAgainstModel, pairsToHash, parseHash, toHash } from './urlstate.js';

const KEYS = Object.keys(DEFAULTS);
const GRID_CHANNELS = 32; // maps in an activations figure
const FIGURE_PX = 448; // a zoom's or an attention map's longer side

const STYLE = `
:host { all: initial; display: block; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; contain: content; }
figure { margin: 0; padding: 10px; background: #fff; border: 1px solid #dde1ea; border-radius: 8px; }
.stage { position: relative; display: grid; place-items: center; min-height: 160px; background: #f7f8fa; border-radius: 4px; overflow: hidden; }
.stage canvas, .stage img { max-width: 100%; height: auto; display: block; image-rendering: auto; }
.poster { opacity: 0.55; max-height: 320px; }
.run { position: absolute; font: inherit; padding: 8px 16px; border: 0; border-radius: 6px; background: #3b5bdb; color: #fff; cursor: pointer; }
.run:focus-visible { outline: 3px solid #1d2330; outline-offset: 2px; }
.state { margin: 6px 0 0; font-size: 12px; color: #5c6577; }
.state:empty { display: none; }
progress { width: 100%; height: 6px; }
figcaption { margin-top: 6px; font-size: 13px; color: #5c6577; display: flex; gap: 8px; justify-content: space-between; flex-wrap: wrap; }
figcaption a { color: #3b5bdb; }
.error { color: #b02a37; }
`;

/** The settings of an element: its attributes read as a convscope link. */
function settingsOf(el) {
  const pairs = KEYS.filter((key) => el.hasAttribute(key)).map((key) => [key, el.getAttribute(key)]);
  // Snippets carried no version before schema 2: an element without `v` keeps schema 1's
  // defaults, so a figure already in someone's page does not change.
  if (!el.hasAttribute('v')) pairs.unshift(['v', '1']);
  return parseHash(pairsToHash(pairs));
}

/** Draw a picture `{width, height, rgba}` into a new canvas. */
function canvasOf(pic, label) {
  const c = document.createElement('canvas');
  c.width = pic.width;
  c.height = pic.height;
  c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(pic.rgba.buffer, pic.rgba.byteOffset, pic.rgba.length), pic.width, pic.height), 0, 0);
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', label);
  return c;
}

// The slow attention methods of every figure of the document run in one engine worker, one
// figure after the other (each runs in the runtime's queue), never on the page's thread.
const slow = { key: null, source: null, work: null };

async function offload(s, eng, job, image, onProgress) {
  const key = `${eng.backend}/${s.model}`;
  if (slow.key !== key) {
    slow.work?.modelChanged();
    Object.assign(slow, { key, source: { backend: eng.backend, bytes: await rt.bundledBytes(s.model), onnx: null } });
  }
  slow.work ??= longWork(() => slow.source);
  return slow.work.run(job, image, s.fit, onProgress);
}

const methodsCache = { list: null };
const methods = () => (methodsCache.list ??= attentionMethods());

// One figure per view: each returns `{ canvas, caption, result }` (`result`: the numbers
// drawn, for tests).
const FIGURES = {
  async activations(s, eng, model) {
    const main = await rt.analysis(eng, s.model, s.image, s.fit);
    const other = s.compare ? await rt.analysis(eng, s.model, s.compare, s.fit) : null;
    return rt.enqueue(async () => {
      const view = model.activationsView();
      try {
        view.setImage(0, main);
        if (other) view.setImage(1, other);
        const layer = s.layer ?? model.info().layers[0].id;
        const zoomed = s.zoom !== null;
        const start = zoomed ? s.zoom : s.page;
        const r = await view.show(layer, s.scale, s.cmap, s.rank, start, zoomed ? 1 : GRID_CHANNELS);
        const channel = r.channels[0];
        const pic = zoomed
          ? view.exportZoom(channel, FIGURE_PX, s.overlay === null ? -1 : s.overlay / 100)
          : view.exportGrid(8);
        const images = [s.image, s.compare].filter(Boolean).join(' and ');
        const what = zoomed ? `channel ${channel} of ${r.layer}` : `${r.layer}, channels ${r.channels[0]}–${r.channels.at(-1)} of ${r.total}`;
        return {
          canvas: canvasOf(pic, `activations of ${what} on ${images}`),
          caption: `Activations: ${what} on ${images} (${model.info().name}).`,
          result: { layer: r.layer, channels: r.channels, scales: r.scales, values: r.images.map((im) => (im.values ? Array.from(im.values) : null)) },
        };
      } finally {
        view.free();
      }
    });
  },

  async attention(s, eng, model, progress) {
    const main = await rt.analysis(eng, s.model, s.image, s.fit);
    const image = await rt.sample(s.image);
    return rt.enqueue(async () => {
      const view = model.attentionView();
      try {
        view.setImage(main);
        const top = main.top(1)[0];
        const cls = s.class ?? top.index;
        const against = s.contrast ?? -1;
        const layer = s.camlayer ?? '';
        // The methods that run the network many times run in the engine's worker.
        const explain = async (pane, method) => {
          const info = methods().find((m) => m.id === method);
          if (!info || !info.slow) return view.explain(pane, method, cls, against, layer);
          const job = { op: 'explain', pane, method, cls, against, layer };
          const r = await offload(s, eng, job, image, (p) => progress(p.done / p.total, `${info.name}: ${p.done} of ${p.total} images`));
          return view.adopt(pane, method, cls, against, layer, r.raw);
        };
        const panes = [await explain(0, s.method)];
        if (s.method2) panes.push(await explain(1, s.method2));
        const pic = view.export(FIGURE_PX, s.raw ? -1 : s.opacity / 100, s.camcmap);
        const names = panes.map((p) => p.method.name).join(' beside ');
        return {
          canvas: canvasOf(pic, `${names} for ${panes[0].label} on ${s.image}`),
          caption: `${names}: which regions make ${model.info().name} say “${panes[0].label}” on ${s.image}${panes[0].layer ? ` (at ${panes[0].layer})` : ''}.`,
          result: { top, panes: panes.map((p) => ({ method: p.method.id, layer: p.layer, target: p.target, height: p.height, width: p.width, raw: p.raw ? Array.from(p.raw) : null })) },
        };
      } finally {
        view.free();
      }
    });
  },

  async patterns(s, eng, model, progress) {
    const layers = model.info().layers.filter((l) => l.shape.length === 3);
    const layer = s.player ?? model.info().patternLayer ?? layers[0].id;
    const total = layers.find((l) => l.id === layer).shape[0];
    const channels = s.channels ?? Array.from({ length: Math.min(16, total) }, (_, i) => i);
    let rgba = null;
    let size = s.size;
    let notes = [];
    const draw = (note) => {
      const cols = Math.ceil(Math.sqrt(channels.length));
      const title = `${model.info().name} ${layer} - ${note}`;
      return canvasOf(
        patternGallery(rgba, size, channels.map(String), notes, title, cols, Math.max(size, channels.length <= 4 ? 256 : 96)),
        `filter patterns of ${layer}, channels ${channels.join(', ')}`,
      );
    };
    const done = await rt.runPatterns(
      { model: s.model, backend: eng.backend, layer, channels, size: s.size, steps: s.steps, seed: s.seed, fit: s.pfit },
      (p) => {
        rgba = p.rgba;
        size = p.info ? p.info.size : size;
        progress(p.step / p.steps, `step ${p.step} of ${p.steps}`, draw(`step ${p.step} of ${p.steps}`));
      },
    );
    notes = done.off.map((off) => (off ? 'OFF' : ''));
    return {
      canvas: draw(`${s.steps} steps, seed ${s.seed}`),
      caption: `Filter patterns: the images that ${layer}'s channel${channels.length > 1 ? 's' : ''} ${channels.join(', ')} respond to most (${s.steps} steps in ${done.seconds.toFixed(0)} s).`,
      result: { layer, channels, own: done.own },
    };
  },
};

class ConvScope extends HTMLElement {
  static observedAttributes = KEYS;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style><figure><div class="stage"></div><progress hidden max="1" value="0"></progress><p class="state" role="status"></p><figcaption><span class="caption"></span><a class="open" target="_blank" rel="noopener">open in convscope</a></figcaption></figure>`;
    this.stage = root.querySelector('.stage');
    this.bar = root.querySelector('progress');
    this.captionEl = root.querySelector('.caption');
    this.stateEl = root.querySelector('.state');
    // Messages from whoever made the element (embed.html: link settings it could not read).
    this.extraNotes = [];
    this.open = root.querySelector('.open');
    this.state = 'poster'; // poster | waiting | running | done | error
    this.result = null;
    this.generation = 0;
  }

  connectedCallback() {
    this.setup();
  }

  disconnectedCallback() {
    this.observer?.disconnect();
  }

  attributeChangedCallback() {
    if (this.isConnected && this.ready) this.setup();
  }

  // Read the attributes, show the poster, and wait for the view (or a click) to run.
  setup() {
    this.ready = true;
    this.generation += 1;
    const { state: s, errors } = settingsOf(this);
    this.settings = s;
    this.errors = errors;
    this.open.href = `${rt.siteUrl('index.html')}${toHash(s, { view: s.view })}`;
    this.captionEl.textContent = s.caption || '';
    this.poster(s);
    this.observer?.disconnect();
    if (s.start === 'view') {
      this.observer = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          this.observer.disconnect();
          this.run();
        }
      });
      this.observer.observe(this);
    }
    this.dispatchEvent(new CustomEvent('convscope-state', { detail: { state: this.state } }));
  }

  poster(s) {
    this.state = 'poster';
    const img = document.createElement('img');
    img.className = 'poster';
    img.alt = `${s.image}: the picture this figure explains`;
    img.src = rt.siteUrl(`samples/${s.image}`);
    const run = document.createElement('button');
    run.type = 'button';
    run.className = 'run';
    run.textContent = `Run ${s.view === 'patterns' ? 'the optimization' : 'the model'}`;
    run.addEventListener('click', () => this.run());
    this.stage.replaceChildren(img, run);
    this.status(s.start === 'click' ? `${s.view} of ${s.model}: runs in your browser when you ask` : `${s.view} of ${s.model}: starts when scrolled into view`);
  }

  status(text, error = false) {
    this.stateEl.textContent = text;
    this.stateEl.classList.toggle('error', error);
  }

  async run() {
    if (this.state !== 'poster') return;
    this.observer?.disconnect();
    const generation = this.generation;
    const s = this.settings;
    this.state = 'running';
    this.stage.querySelector('.run')?.remove();
    this.status('loading the model…');
    try {
      const eng = await rt.engine(s.backend);
      const model = await rt.bundledModel(eng, s.model);
      const checked = checkAgainstModel(s, { ...model.info(), methods: methods() });
      const notes = [...this.extraNotes, ...this.errors, ...checked.errors];
      this.status(s.view === 'patterns' ? 'optimizing patterns…' : `running ${s.model} on ${eng.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}…`);
      const progress = (fraction, text, canvas) => {
        if (generation !== this.generation) return;
        this.bar.hidden = false;
        this.bar.value = fraction;
        if (canvas) this.stage.replaceChildren(canvas);
        this.status(text);
      };
      const fig = await FIGURES[s.view](checked.state, eng, model, progress);
      if (generation !== this.generation) return;
      this.bar.hidden = true;
      this.stage.replaceChildren(fig.canvas);
      this.status(notes.join(' '), notes.length > 0);
      this.captionEl.textContent = s.caption || fig.caption;
      this.result = { ...fig.result, backend: eng.backend, notes };
      this.state = 'done';
    } catch (e) {
      if (generation !== this.generation) return;
      this.state = 'error';
      this.status(`This figure could not be drawn: ${e && e.message ? e.message : e}`, true);
    }
    this.dispatchEvent(new CustomEvent('convscope-state', { detail: { state: this.state } }));
  }

  /** What the shared runtime holds (tests). */
  static runtime() {
    return rt.stats();
  }
}

if (!customElements.get('conv-scope')) customElements.define('conv-scope', ConvScope);
