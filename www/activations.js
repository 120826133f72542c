// The activations view: every channel of a layer as a grid, one zoomed, a second image side
// by side on the same scale. The engine computes and colours; this file only draws.
import { download as save, drawRamp, fmt, paint, pct } from './draw.js';
import { decode, sample } from './runtime.js';

const $ = (id) => document.getElementById(id);
const ZOOM_PX = 320;

/** Wire the view to the page. `ctx` gives `model()` (the WebModel), `info()`,
 * `enqueue(job)`, `probe` and `fit()`. Returns the hooks the page calls when the model or the
 * image changes, and the view's link settings. */
export function setupActivations(ctx) {
  const view = {
    handle: null, layer: null, norm: 'channel', colormap: 'auto', rank: 'index', start: 0, pageSize: 64,
    result: null, zoom: null, tops: [null, null],
    // The image compared with: `{ name, sample (id or null for a file), image }`, and its analysis.
    compare: null, compareAnalysis: null,
  };
  const { probe } = ctx;

  function pageSizeFor(shape) {
    const area = shape.length === 3 ? shape[1] * shape[2] : 1;
    return area >= 14 * 14 ? 64 : 128;
  }

  function fillLayers() {
    const select = $('layer-select');
    const layers = ctx.info().layers;
    select.replaceChildren(...layers.map((l) => {
      const o = document.createElement('option');
      o.value = l.id;
      o.textContent = `${l.id} — ${l.kind} — ${l.shape.join('×')}`;
      return o;
    }));
    if (!layers.some((l) => l.id === view.layer)) view.layer = layers[0].id;
    select.value = view.layer;
    view.start = 0;
  }

  function drawLegend(r) {
    drawRamp($('legend-bar'), r.colormap);
    if (r.perChannel) {
      $('legend-lo').textContent = r.signed ? '−max' : '0';
      $('legend-mid').textContent = r.signed ? '0' : '';
      $('legend-hi').textContent = 'max';
      $('legend-note').textContent = `each map on its own scale (its max beside its number); ${r.colormap}`;
    } else {
      const s = r.scales[0];
      $('legend-lo').textContent = fmt(s.lo);
      $('legend-mid').textContent = r.signed ? '0' : '';
      $('legend-hi').textContent = fmt(s.hi);
      $('legend-note').textContent = `one scale for the whole layer${r.images.length > 1 ? ' and both images' : ''}; ${r.colormap}`;
    }
  }

  function gridFor(slot) {
    let col = document.querySelector(`.grid-col[data-slot="${slot}"]`);
    if (!col) {
      col = document.createElement('div');
      col.className = 'grid-col';
      col.dataset.slot = slot;
      const h = document.createElement('h3');
      const grid = document.createElement('div');
      grid.className = 'grid';
      grid.setAttribute('role', 'group');
      grid.addEventListener('keydown', onGridKey);
      col.append(h, grid);
      $('grids').append(col);
    }
    return col;
  }

  function drawGrids(r) {
    for (const col of [...document.querySelectorAll('.grid-col')]) {
      if (!r.images.some((im) => String(im.slot) === col.dataset.slot)) col.remove();
    }
    for (const im of r.images) {
      const col = gridFor(im.slot);
      const top = view.tops[im.slot];
      col.querySelector('h3').textContent = `${im.name}${top ? ` — ${top.label} ${pct(top.prob)}` : ''}`;
      const grid = col.querySelector('.grid');
      grid.setAttribute('aria-label', `${r.layer} on ${im.name}: ${r.channels.length} of ${r.total} channels`);
      const cells = r.channels.map((ch, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'cell';
        b.dataset.channel = ch;
        b.tabIndex = -1;
        const st = im.stats[i];
        b.setAttribute('aria-label', `channel ${ch} on ${im.name}: max ${fmt(st.max)}, mean ${fmt(st.mean)}, ${pct(st.active)} active`);
        // The number and the scale's top are drawn by CSS from these (the button's name is
        // its aria-label, which says more than the two numbers would).
        const label = document.createElement('span');
        label.className = 'idx';
        label.dataset.text = ch;
        b.append(label);
        if (r.perChannel) {
          const max = document.createElement('span');
          max.className = 'max';
          max.dataset.text = fmt(r.scales[i].hi);
          b.append(max);
        }
        const map = document.createElement('span');
        map.className = 'map';
        b.append(map);
        b.addEventListener('click', () => zoom(ch, b));
        return b;
      });
      const paint = document.createElement('canvas');
      paint.className = 'paint';
      paint.setAttribute('aria-hidden', 'true');
      grid.replaceChildren(paint, ...cells);
      grid.dataset.layout = '';
      paintGrid(grid);
    }
    const focusable = document.querySelector(`.grid-col[data-slot="0"] .cell[data-channel="${view.zoom ?? r.channels[0]}"]`)
      || document.querySelector('.grid-col[data-slot="0"] .cell');
    if (focusable) focusable.tabIndex = 0;
    const end = r.start + r.channels.length;
    $('page-text').textContent = `${r.rankLabel} ${r.start + 1}–${end} of ${r.total}`;
    $('page-prev').disabled = r.start === 0;
    $('page-next').disabled = end >= r.total;
    $('pager').hidden = r.total <= r.channels.length;
  }

  // Lay a grid's cells out and paint its maps under them: the engine colours and places
  // every map of the page in one image, with the same numbers the CSS grid gets.
  const GAP = 6, LABEL = 16;
  function paintGrid(grid) {
    const r = view.result;
    const slot = Number(grid.parentElement.dataset.slot);
    if (!r || !r.images.some((im) => im.slot === slot)) return;
    const min = Math.max(44, Math.min(118, r.width * Math.ceil(64 / r.width)));
    const cols = Math.max(1, Math.floor((grid.clientWidth + GAP) / (min + GAP)));
    const cellW = Math.max(8, Math.floor((grid.clientWidth - GAP * (cols - 1)) / cols));
    const cellH = Math.max(1, Math.round(cellW * r.height / r.width));
    const key = `${cols}x${cellW}x${cellH}`;
    if (grid.dataset.layout === key) return;
    grid.dataset.layout = key;
    grid.style.gridTemplateColumns = `repeat(${cols}, ${cellW}px)`;
    grid.style.gap = `${GAP}px`;
    grid.style.setProperty('--map-h', `${cellH}px`);
    grid.style.setProperty('--label-h', `${LABEL}px`);
    const pic = view.handle.paintGrid(slot, cols, cellW, cellH, GAP, LABEL);
    const canvas = grid.querySelector('canvas.paint');
    paint(canvas, pic);
    canvas.style.width = `${pic.width}px`;
    canvas.style.height = `${pic.height}px`;
  }
  new ResizeObserver(() => document.querySelectorAll('#grids .grid').forEach(paintGrid)).observe($('grids'));

  function columns(grid) {
    const cells = grid.querySelectorAll('.cell');
    if (!cells.length) return 1;
    const top = cells[0].offsetTop;
    let n = 0;
    while (n < cells.length && cells[n].offsetTop === top) n += 1;
    return Math.max(1, n);
  }

  function onGridKey(e) {
    const cells = [...e.currentTarget.querySelectorAll('.cell')];
    const i = cells.indexOf(document.activeElement);
    if (i < 0) return;
    const cols = columns(e.currentTarget);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, ArrowDown: i + cols, ArrowUp: i - cols, Home: 0, End: cells.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    const target = cells[Math.max(0, Math.min(cells.length - 1, next))];
    cells[i].tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
  }

  function zoom(channel, from) {
    const r = view.result;
    const i = r ? r.channels.indexOf(channel) : -1;
    if (i < 0) { $('zoom-panel').hidden = true; view.zoom = null; return; }
    view.zoom = channel;
    for (const c of document.querySelectorAll('.cell')) c.classList.toggle('selected', Number(c.dataset.channel) === channel);
    if (from) {
      for (const c of from.parentElement.querySelectorAll('.cell')) c.tabIndex = -1;
      from.tabIndex = 0;
    }
    const overlay = $('overlay-toggle').checked;
    const opacity = overlay ? Number($('overlay-opacity').value) / 100 : -1;
    const figures = r.images.map((im) => {
      const pic = view.handle.zoomImage(im.slot, channel, ZOOM_PX, opacity);
      const fig = document.createElement('figure');
      const canvas = document.createElement('canvas');
      paint(canvas, pic);
      canvas.className = 'zoom-canvas';
      canvas.dataset.slot = im.slot;
      const st = im.stats[i];
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', `channel ${channel} of ${r.layer} on ${im.name}, zoomed${overlay ? ', over the image' : ''}`);
      const cap = document.createElement('figcaption');
      const name = document.createElement('strong');
      name.textContent = im.name;
      cap.append(name, ` — min ${fmt(st.min)} · max ${fmt(st.max)} · mean ${fmt(st.mean)} · ${pct(st.active)} active`);
      fig.append(canvas, cap);
      return fig;
    });
    $('zoom-figures').replaceChildren(...figures);
    const s = r.scales[i];
    $('zoom-title').textContent = `Channel ${channel} of ${r.layer}`;
    $('zoom-range').textContent = `colour scale ${fmt(s.lo)} to ${fmt(s.hi)} (${r.perChannel ? 'this channel' : 'the whole layer'}${r.images.length > 1 ? ', both images' : ''}), ${r.colormap}`;
    $('zoom-panel').hidden = false;
    probe.zoomed = { channel, images: r.images.length };
    ctx.examples.show($('zoom-examples'), r.layer, channel);
  }

  const RANK_LABELS = { index: 'channels', max: 'by max, ranks', mean: 'by mean, ranks', active: 'by activity, ranks' };

  // Fetch and draw the current layer page. Returns the milliseconds it took.
  async function refresh() {
    if (!view.handle || !view.layer) return 0;
    const t0 = performance.now();
    const layer = ctx.info().layers.find((l) => l.id === view.layer);
    view.pageSize = pageSizeFor(layer.shape);
    const r = await view.handle.show(view.layer, view.norm, view.colormap, view.rank, view.start, view.pageSize);
    const t1 = performance.now();
    r.rankLabel = RANK_LABELS[view.rank];
    view.result = r;
    drawLegend(r);
    drawGrids(r);
    if (view.zoom !== null && r.channels.includes(view.zoom)) zoom(view.zoom);
    else { $('zoom-panel').hidden = true; view.zoom = null; }
    const ms = performance.now() - t0;
    $('act-timing').textContent = `${r.layer}: ${r.channels.length} maps of ${r.height}×${r.width} drawn in ${ms.toFixed(0)} ms`;
    probe.layerView = {
      layer: r.layer, total: r.total, channels: r.channels, images: r.images.map((im) => im.name), height: r.height, width: r.width,
      scales: r.scales, colormap: r.colormap, ms, engineMs: t1 - t0, drawMs: performance.now() - t1,
    };
    probe.layerMs = ms;
    return ms;
  }

  // Compare with a decoded image (`sample`: its sample id, or null for a file).
  async function setCompare(img, sampleId) {
    const analysis = await ctx.model().analyse(img.name, img.rgba, img.width, img.height, ctx.fit());
    view.compareAnalysis?.free();
    view.compare = { name: img.name, sample: sampleId, image: img };
    view.compareAnalysis = analysis;
    view.tops[1] = analysis.top(1)[0];
    view.handle.setImage(1, analysis);
    $('compare-select').value = sampleId || 'file';
    await refresh();
  }

  async function clearCompare() {
    view.compare = null;
    view.compareAnalysis?.free();
    view.compareAnalysis = null;
    view.tops[1] = null;
    view.handle.clearImage(1);
    $('compare-select').value = '';
    await refresh();
  }

  const download = (pic, filename) => save(pic, filename, probe);

  const rerun = (change) => () => ctx.enqueue(async () => { change(); await refresh(); });
  $('layer-select').addEventListener('change', (e) => ctx.enqueue(async () => { view.layer = e.target.value; view.start = 0; await refresh(); }));
  $('norm-select').addEventListener('change', (e) => rerun(() => { view.norm = e.target.value; })());
  $('cmap-select').addEventListener('change', (e) => rerun(() => { view.colormap = e.target.value; })());
  $('rank-select').addEventListener('change', (e) => rerun(() => { view.rank = e.target.value; view.start = 0; })());
  $('page-prev').addEventListener('click', rerun(() => { view.start = Math.max(0, view.start - view.pageSize); }));
  $('page-next').addEventListener('click', rerun(() => { view.start += view.pageSize; }));
  $('overlay-toggle').addEventListener('change', () => view.zoom !== null && zoom(view.zoom));
  $('overlay-opacity').addEventListener('input', () => view.zoom !== null && $('overlay-toggle').checked && zoom(view.zoom));
  $('zoom-close').addEventListener('click', () => {
    $('zoom-panel').hidden = true;
    ctx.examples.hide($('zoom-examples'));
    const ch = view.zoom;
    view.zoom = null;
    for (const c of document.querySelectorAll('.cell.selected')) c.classList.remove('selected');
    document.querySelector(`.grid-col[data-slot="0"] .cell[data-channel="${ch}"]`)?.focus();
  });
  $('compare-select').addEventListener('change', (e) => {
    const v = e.target.value;
    if (v === 'file') { $('compare-file').click(); return; }
    ctx.enqueue(async () => {
      if (!v) { await clearCompare(); return; }
      try {
        await setCompare(await sample(v), v);
      } catch (err) {
        // The menu goes back to what is shown.
        $('compare-select').value = view.compare ? view.compare.sample || 'file' : '';
        throw err;
      }
    });
  });
  $('compare-file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) { $('compare-select').value = view.compare ? view.compare.sample || 'file' : ''; return; }
    ctx.enqueue(async () => {
      try {
        await setCompare(await decode(file, file.name), null);
      } catch (err) {
        $('compare-select').value = view.compare ? view.compare.sample || 'file' : '';
        throw err;
      }
    });
  });
  $('export-grid').addEventListener('click', () => ctx.enqueue(async () => {
    const grid = document.querySelector('.grid-col[data-slot="0"] .grid');
    await download(view.handle.exportGrid(grid ? columns(grid) : 8), `convscope-${ctx.info().name}-${view.layer}.png`);
  }));
  $('export-zoom').addEventListener('click', () => ctx.enqueue(async () => {
    const overlay = $('overlay-toggle').checked;
    await download(view.handle.exportZoom(view.zoom, 448, overlay ? Number($('overlay-opacity').value) / 100 : -1), `convscope-${ctx.info().name}-${view.layer}-channel${view.zoom}.png`);
  }));

  // For tests and benchmarks: choose a layer as the menu does; resolves once drawn.
  probe.showLayer = (id) => ctx.enqueue(async () => {
    $('layer-select').value = id;
    view.layer = id;
    view.start = 0;
    return refresh();
  });
  probe.layerValues = (slot = 0) => Array.from(view.result.images.find((im) => im.slot === slot).values);

  return {
    // A new model: a new handle and layer list (the page then analyses both images again).
    modelChanged(handle) {
      view.handle?.free();
      view.handle = handle;
      view.compareAnalysis?.free();
      view.compareAnalysis = null;
      fillLayers();
      view.zoom = null;
      view.result = null;
    },
    // The main image changed: `analysis` holds its activations (with `reanalyse`, the input
    // preprocessing changed too, so the comparison image is analysed again).
    async imageChanged(top, analysis, reanalyse = false) {
      view.tops[0] = top;
      view.handle.setImage(0, analysis);
      if (view.compare && (reanalyse || !view.compareAnalysis)) await setCompare(view.compare.image || await sample(view.compare.sample), view.compare.sample);
      else await refresh();
    },
    // The link's settings for this view (urlstate.js keys).
    settings() {
      return {
        layer: view.layer, page: view.start, zoom: view.zoom, scale: view.norm, cmap: view.colormap, rank: view.rank,
        compare: view.compare ? view.compare.sample : null,
        overlay: $('overlay-toggle').checked ? Number($('overlay-opacity').value) : null,
      };
    },
    // Take a link's settings (already checked against the model); drawn with the next image.
    restore(s) {
      if (s.layer) view.layer = s.layer;
      $('layer-select').value = view.layer;
      view.norm = s.scale;
      view.colormap = s.cmap;
      view.rank = s.rank;
      $('norm-select').value = s.scale;
      $('cmap-select').value = s.cmap;
      $('rank-select').value = s.rank;
      view.start = s.page;
      view.zoom = s.zoom;
      // A zoomed channel off the page asked for: the page that holds it (channel order only).
      const layer = ctx.info().layers.find((l) => l.id === view.layer);
      const size = pageSizeFor(layer.shape);
      if (s.zoom !== null && s.rank === 'index' && (s.zoom < s.page || s.zoom >= s.page + size)) view.start = s.zoom - (s.zoom % size);
      $('overlay-toggle').checked = s.overlay !== null;
      if (s.overlay !== null) $('overlay-opacity').value = String(s.overlay);
      if (s.compare) {
        view.compare = { name: s.compare, sample: s.compare, image: null };
        $('compare-select').value = s.compare;
      }
    },
  };
}
