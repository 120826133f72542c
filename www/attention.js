// The attention view: which regions drive the model's score for a class, by any of the
// engine's methods, one or two side by side, with how faithful each map is. The engine
// computes, colours and scores; this file only draws. What runs the network more than once
// (the slow methods, faithfulness, the sanity check) runs in the engine's worker, with
// progress and cancel; the page's engine adopts the maps and scores it sends back.
import { attentionMethods } from './pkg/convscope_web.js';
import { download, drawRamp, paint, pct } from './draw.js';
import { longWork, superseded, timeLeft } from './longwork.js';

const $ = (id) => document.getElementById(id);
const SIZE = 448; // pixels on the longer side of a drawn map

/** Wire the view to the page. `ctx` gives `info()`, `image()` and `fit()` (the image shown),
 * `modelBytes()`, `onnx()`, `backend()`, `enqueue(job)` and `probe`. Returns the hooks the
 * page calls when the model or the image changes, `cancel()`, and the view's link settings. */
export function setupAttention(ctx) {
  const { probe } = ctx;
  const view = {
    handle: null, analysis: null, top: [], panes: [null, null], methods: [], visible: false, unscored: false, mapMs: null,
    // What each pane's map was asked with (the worker is sent it to score or check the map).
    asked: [null, null],
    // Bumped by every refresh: work of an older one never lands.
    generation: 0,
    // A link's class and contrast, applied to the first image's menus.
    wanted: null,
  };
  probe.attention = { panes: [null, null], ms: null, scoreMs: null, sanity: null, work: [] };
  const work = longWork(() => ({ backend: ctx.backend(), bytes: ctx.modelBytes(), onnx: ctx.onnx() }));

  // Run `job` in the worker with the progress bar showing `what`; resolves with its result,
  // or with null when it was cancelled or superseded (nothing more to draw).
  async function offload(what, job) {
    const bar = $('cam-work');
    bar.hidden = false;
    $('cam-progress').removeAttribute('value');
    $('cam-work-text').textContent = `${what}…`;
    const entry = { what, state: 'running', updates: 0 };
    probe.attention.work.push(entry);
    try {
      const r = await work.run(job, ctx.image(), ctx.fit(), (p) => {
        entry.updates += 1;
        entry.since ??= performance.now();
        $('cam-progress').value = p.done / p.total;
        const left = timeLeft(p, p.seconds);
        $('cam-work-text').textContent = `${what}: ${p.done} of ${p.total} images${left ? `, ${left}` : ''}`;
      });
      entry.state = 'done';
      entry.until = performance.now();
      return r;
    } catch (e) {
      if (!superseded(e)) {
        entry.state = 'failed';
        throw e;
      }
      entry.state = 'cancelled';
      return null;
    } finally {
      if (!work.busy()) bar.hidden = true;
    }
  }

  $('cam-cancel').addEventListener('click', () => {
    if (work.cancel()) $('cam-timing').textContent = 'cancelled';
  });
  const option = (value, text) => Object.assign(document.createElement('option'), { value, textContent: text });

  // The menus come from the engine, once it is loaded.
  function fillMenus() {
    if (view.methods.length) return;
    const methods = attentionMethods();
    view.methods = methods;
    const label = (m) => (m.cost ? `${m.name} (${m.cost})` : m.name);
    $('method-select').replaceChildren(...methods.map((m) => option(m.id, label(m))));
    $('method2-select').replaceChildren(option('', 'nothing'), ...methods.map((m) => option(m.id, label(m))));
    $('method-select').value = 'gradcam';
    drawRamp($('cam-legend-bar'), colormap());
  }

  function fillLayers() {
    const layers = ctx.info().layers.filter((l) => l.shape.length === 3);
    const select = $('cam-layer-select');
    const previous = select.value;
    select.replaceChildren(option('', 'last with feature maps (default)'), ...layers.map((l) => option(l.id, `${l.id} — ${l.shape.join('×')}`)));
    select.value = layers.some((l) => l.id === previous) ? previous : '';
  }

  // The top-5 as targets; a link's class or contrast outside them is added to the menus.
  function fillTargets(top, analysis) {
    view.top = top;
    const extra = [];
    const wanted = view.wanted;
    view.wanted = null;
    if (wanted) {
      const all = analysis.top(ctx.info().classes);
      for (const c of [wanted.class, wanted.contrast]) {
        if (c !== null && !top.some((p) => p.index === c) && !extra.some((p) => p.index === c)) extra.push(all.find((p) => p.index === c));
      }
    }
    const targets = [...top, ...extra.filter(Boolean)];
    $('target-select').replaceChildren(...targets.map((p) => option(String(p.index), `${p.label} (${pct(p.prob)})`)));
    $('contrast-select').replaceChildren(option('-1', 'nothing (the class alone)'), ...targets.map((p) => option(String(p.index), p.label)));
    if (wanted && wanted.class !== null) $('target-select').value = String(wanted.class);
    if (wanted && wanted.contrast !== null) $('contrast-select').value = String(wanted.contrast);
  }

  const opacity = () => ($('raw-toggle').checked ? -1 : Number($('cam-opacity').value) / 100);
  const colormap = () => $('cam-cmap-select').value;

  function drawPane(pane) {
    const r = view.panes[pane];
    const fig = document.querySelector(`.cam-pane[data-pane="${pane}"]`);
    fig.hidden = !r;
    if (!r) return;
    const canvas = fig.querySelector('canvas');
    paint(canvas, view.handle.image(pane, SIZE, opacity(), colormap()));
    const where = r.layer ? `layer ${r.layer}, ${r.height}×${r.width}` : `the input, ${r.height}×${r.width}`;
    fig.querySelector('figcaption').textContent = `${r.method.name} — ${r.label} — at ${where}`;
    fig.querySelector('figcaption').title = r.method.paper;
    canvas.setAttribute('aria-label', `${r.method.name} map for ${r.label}${opacity() < 0 ? ', raw' : ', over the image'}; peak at row ${r.peak[0]}, column ${r.peak[1]} of ${r.height}×${r.width}`);
    const msg = fig.querySelector('.cam-message');
    msg.hidden = !r.constant;
    msg.textContent = r.constant ? 'This map is constant: no region stands out for this target with this method (all of it is drawn at the lowest colour).' : '';
    drawScores(fig.querySelector('.cam-scores'), r.scores);
  }

  function drawScores(box, s) {
    if (!s) { box.replaceChildren(); return; }
    const { ours, random } = s;
    // The engine judges each score against the random map's; this only words it.
    const mark = { better: '✓', worse: '✗', tie: '= no better than random' };
    const row = (c) => {
      const p = document.createElement('p');
      p.className = `score ${c.verdict === 'better' ? 'good' : c.verdict === 'worse' ? 'bad' : 'tie'}`;
      const f = c.percent ? pct : (x) => x.toFixed(3);
      const name = c.name[0].toUpperCase() + c.name.slice(1);
      p.textContent = `${name}: ${f(c.ours)} (random map ${f(c.random)}; ${c.lower_is_better ? 'lower' : 'higher'} is better) ${mark[c.verdict]}`;
      return p;
    };
    const curves = document.createElement('canvas');
    curves.className = 'curves';
    curves.width = 240;
    curves.height = 90;
    curves.setAttribute('role', 'img');
    curves.setAttribute('aria-label', 'deletion (red) and insertion (blue) curves, the random map dashed');
    const g = curves.getContext('2d');
    const plot = (ys, color, dashed) => {
      g.strokeStyle = color;
      g.setLineDash(dashed ? [4, 3] : []);
      g.beginPath();
      ys.forEach((y, i) => g[i ? 'lineTo' : 'moveTo'](4 + (i / (ys.length - 1)) * 232, 86 - y * 82));
      g.stroke();
    };
    g.strokeStyle = '#ccc';
    g.strokeRect(0.5, 0.5, 239, 89);
    plot(random.deletion, '#d9534f', true);
    plot(random.insertion, '#3b6fd4', true);
    plot(ours.deletion, '#d9534f', false);
    plot(ours.insertion, '#3b6fd4', false);
    box.replaceChildren(...s.comparisons.map(row), curves);
  }

  // Compute the maps of both panes, draw them, then score them.
  async function refresh(scoreNow = false) {
    if (!view.top.length) return;
    const generation = ++view.generation;
    // The maps being replaced are not scored any more.
    view.unscored = false;
    const m = view.handle;
    const cls = Number($('target-select').value);
    const against = Number($('contrast-select').value);
    const layer = $('cam-layer-select').value;
    const chosen = [$('method-select').value, $('method2-select').value];
    $('sanity-result').replaceChildren();
    probe.attention.sanity = null;
    const t0 = performance.now();
    for (const pane of [0, 1]) {
      view.asked[pane] = null;
      if (!chosen[pane]) { m.clear(pane); view.panes[pane] = null; continue; }
      const info = view.methods.find((x) => x.id === chosen[pane]);
      const asked = { method: chosen[pane], cls, against, layer };
      if (info.slow) {
        // Nothing stale stays on screen while the new map is computed.
        m.clear(pane);
        view.panes[pane] = null;
        drawPane(pane);
        $('cam-timing').textContent = `computing ${info.name} (${info.cost})…`;
        const r = await offload(`${info.name} for ${$('target-select').selectedOptions[0]?.textContent ?? 'the class'}`, { op: 'explain', pane, ...asked });
        if (!r || generation !== view.generation) return;
        view.panes[pane] = m.adopt(pane, asked.method, cls, against, layer, r.raw);
      } else {
        view.panes[pane] = await m.explain(pane, chosen[pane], cls, against, layer);
      }
      view.asked[pane] = asked;
    }
    if (generation !== view.generation) return;
    const ms = performance.now() - t0;
    [0, 1].forEach(drawPane);
    view.mapMs = ms;
    view.unscored = true;
    publish(null);
    // Scoring runs the network some fifty times: only while the view is on screen.
    if (view.visible || scoreNow) await score();
    else $('cam-timing').textContent = `maps ${ms.toFixed(0)} ms; faithfulness is scored when this view is on screen`;
  }

  function publish(scoreMs) {
    probe.attention = { ...probe.attention, panes: view.panes.map((p) => p && { ...p, raw: p.raw ? Array.from(p.raw) : null }), ms: view.mapMs, scoreMs };
  }

  // Faithfulness runs the network some fifty times per map: in the worker.
  async function score() {
    if (!view.unscored || !view.panes.some(Boolean)) return;
    view.unscored = false;
    const generation = view.generation;
    $('cam-timing').textContent = `maps ${view.mapMs.toFixed(0)} ms; scoring faithfulness…`;
    const t1 = performance.now();
    for (const pane of [0, 1]) {
      if (!view.panes[pane]) continue;
      const r = await offload(`Scoring how faithful the ${view.panes[pane].method.name} map is`, { op: 'faithfulness', pane, ...view.asked[pane], raw: view.handle.mapValues(pane) });
      if (!r || generation !== view.generation) {
        // Scored later, when asked again (the view coming back on screen).
        if (generation === view.generation) view.unscored = true;
        return;
      }
      view.handle.adoptScores(pane, r.value);
      view.panes[pane].scores = r.value;
      drawPane(pane);
    }
    const scoreMs = performance.now() - t1;
    $('cam-timing').textContent = `maps ${view.mapMs.toFixed(0)} ms, faithfulness ${scoreMs.toFixed(0)} ms`;
    publish(scoreMs);
  }
  new IntersectionObserver((entries) => {
    view.visible = entries.some((e) => e.isIntersecting);
    if (view.visible && view.unscored) ctx.enqueue(score);
  }).observe($('attention-panel'));

  // The randomization check runs the method once per step: in the worker.
  async function sanity() {
    const box = $('sanity-result');
    const reports = [];
    const generation = view.generation;
    for (const pane of [0, 1]) {
      const r = view.panes[pane];
      if (!r) continue;
      box.textContent = `Randomizing the model's weights from the top down for ${r.method.name}…`;
      const done = await offload(`Sanity check of ${r.method.name}`, { op: 'sanity', pane, ...view.asked[pane], raw: view.handle.mapValues(pane) });
      if (!done || generation !== view.generation) {
        box.textContent = done ? '' : 'The sanity check was cancelled.';
        return;
      }
      reports.push({ pane, method: r.method.name, ...done.value });
    }
    box.replaceChildren(...reports.map((rep) => {
      const div = document.createElement('div');
      div.className = `sanity ${rep.flagged ? 'bad' : 'good'}`;
      const h = document.createElement('p');
      h.textContent = `${rep.method}: ${rep.summary} (Spearman rank correlation with the trained model's map):`;
      const list = document.createElement('ul');
      list.replaceChildren(...rep.steps.map((s) => Object.assign(document.createElement('li'), {
        textContent: `${s.randomized} layer${s.randomized > 1 ? 's' : ''} randomized (down to ${s.layer}): ρ = ${s.rho.toFixed(2)}${s.constant ? ' (the map became constant)' : ''}`,
      })));
      div.append(h, list);
      return div;
    }));
    probe.attention.sanity = reports;
  }

  // A new request supersedes the work of the old one at once (not after it, in the queue).
  const rerun = () => {
    work.cancel();
    ctx.enqueue(() => refresh());
  };
  for (const id of ['method-select', 'method2-select', 'target-select', 'contrast-select', 'cam-layer-select']) $(id).addEventListener('change', rerun);
  $('raw-toggle').addEventListener('change', () => [0, 1].forEach(drawPane));
  $('cam-cmap-select').addEventListener('change', () => {
    drawRamp($('cam-legend-bar'), colormap());
    [0, 1].forEach(drawPane);
  });
  $('cam-opacity').addEventListener('input', () => [0, 1].forEach(drawPane));
  $('export-attention').addEventListener('click', () => ctx.enqueue(() => download(
    view.handle.export(SIZE, opacity(), colormap()),
    `convscope-${ctx.info().name}-${view.panes.filter(Boolean).map((p) => p.method.id).join('-vs-')}.png`,
    probe,
  )));
  $('sanity-run').addEventListener('click', () => ctx.enqueue(sanity));

  // For tests and benchmarks: choose as the menus do; resolves once drawn and (unless
  // `score` is false) scored.
  probe.explain = ({ method = 'gradcam', method2 = '', target = null, against = -1, layer = '', score = true } = {}) => (work.cancel(), ctx.enqueue(async () => {
    $('method-select').value = method;
    $('method2-select').value = method2;
    if (target !== null) $('target-select').value = String(target);
    $('contrast-select').value = String(against);
    $('cam-layer-select').value = layer;
    await refresh(score);
    return probe.attention;
  }));
  probe.sanity = () => ctx.enqueue(sanity);
  probe.camPixels = (pane = 0) => {
    const c = document.querySelector(`.cam-pane[data-pane="${pane}"] canvas`);
    return { width: c.width, height: c.height, rgba: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data) };
  };

  return {
    /** Stop the view's work in the worker (a new image or model is coming). */
    cancel() {
      work.cancel();
    },
    modelChanged(handle) {
      work.modelChanged();
      view.generation += 1;
      view.handle?.free();
      view.handle = handle;
      fillMenus();
      fillLayers();
      view.panes = [null, null];
    },
    async imageChanged(top, analysis) {
      work.cancel();
      view.handle.setImage(analysis);
      fillTargets(top, analysis);
      await refresh();
    },
    // The link's settings for this view (urlstate.js keys).
    settings() {
      const cls = Number($('target-select').value);
      const against = Number($('contrast-select').value);
      return {
        method: $('method-select').value || 'gradcam',
        class: view.top.length && cls !== view.top[0].index ? cls : null,
        // The menus as they are; the engine decides what they mean (Target::asked).
        contrast: against >= 0 ? against : null,
        camlayer: $('cam-layer-select').value || null,
        method2: $('method2-select').value || null,
        opacity: Number($('cam-opacity').value),
        raw: $('raw-toggle').checked,
        camcmap: colormap(),
      };
    },
    // Take a link's settings (already checked against the model); drawn with the next image.
    restore(s) {
      $('method-select').value = s.method;
      $('method2-select').value = s.method2 || '';
      $('cam-layer-select').value = s.camlayer || '';
      $('cam-opacity').value = String(s.opacity);
      $('raw-toggle').checked = s.raw;
      $('cam-cmap-select').value = s.camcmap;
      drawRamp($('cam-legend-bar'), colormap());
      view.wanted = s.class !== null || s.contrast !== null ? { class: s.class, contrast: s.contrast } : null;
    },
  };
}
