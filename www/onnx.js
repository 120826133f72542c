// "Your model": open or drop an .onnx file (and optionally a labels file); the engine imports
// it in this page, nothing is sent anywhere. A small form sets how images become its input
// (mean, std, channel order, labels), with presets, remembered per model in localStorage.

const $ = (id) => document.getElementById(id);

const storeKey = (name, size) => `convscope.onnx:${name}:${size}`;

function remembered(name, size) {
  try {
    return JSON.parse(localStorage.getItem(storeKey(name, size)) || 'null');
  } catch {
    return null;
  }
}

function remember(name, size, prefs) {
  try {
    localStorage.setItem(storeKey(name, size), JSON.stringify(prefs));
  } catch {
    // Storage full or disabled: the settings still apply to this visit.
  }
}

// Settings stored by earlier versions hold arrays of numbers; the engine reads text.
const text = (v) => (Array.isArray(v) ? v.join(', ') : String(v ?? ''));

/** `ctx`: `engine()`, `use(model, name, source)` (makes it the page's model and analyses
 * the image), `enqueue(job)`, `presets()` (the engine's named normalisations). Returns
 * `{ open(file), labels(file), shown(on), reselect(value) }`. */
export function setupOnnx(ctx) {
  // Every model opened in this visit, by name (a second one goes beside the first in the
  // model menu): its file's bytes and preprocessing. `current` is the one the form edits.
  const opened = new Map();
  let current = null;
  const menu = $('onnx-preset');
  // The engine's named normalisations, read once the wasm is loaded (the first model).
  let presets = null;
  const known = () => {
    if (!presets) {
      presets = ctx.presets();
      menu.replaceChildren(...presets.map((p) => new Option(p.label, p.id)), new Option('custom', 'custom'));
    }
    return presets;
  };

  // The form shows what the model was loaded with (the engine's defaults included).
  function fillForm(prefs, info) {
    const c = info.input.channels;
    // The engine's float32 values, as a person wrote them (123.675, not 123.67500305).
    const shown = (v) => v.slice(0, c).map((x) => Number(x.toPrecision(6))).join(', ');
    known();
    menu.value = info.preset || 'custom';
    $('onnx-mean').value = shown(info.input.mean);
    $('onnx-std').value = shown(info.input.std);
    $('onnx-order').value = prefs.bgr ? 'bgr' : 'rgb';
    const n = prefs.labels ? prefs.labels.split('\n').filter((l) => l.trim()).length : 0;
    $('onnx-labels-note').textContent = prefs.labels ? `labels: ${prefs.labelsName || 'file'}` : 'no labels (classes shown by number)';
    $('onnx-labels-clear').hidden = n === 0;
  }

  function readForm() {
    return {
      ...current.prefs,
      mean: $('onnx-mean').value,
      std: $('onnx-std').value,
      bgr: $('onnx-order').value === 'bgr',
    };
  }

  async function load(prefs) {
    const entry = current;
    const engine = ctx.engine();
    const model = engine.loadOnnx(entry.bytes, entry.name, text(prefs.mean), text(prefs.std), prefs.bgr, prefs.labels || '');
    entry.prefs = prefs;
    remember(entry.name, entry.bytes.length, prefs);
    const info = model.info();
    fillForm(prefs, info);
    $('onnx-summary').textContent = `${entry.name}: ${info.input.channels}×${info.input.height}×${info.input.width} input, ${info.layers.length} layers, ${info.classes} classes${info.labels ? `, ${info.labels} labels` : ''}. ${info.description}.`;
    await ctx.use(model, entry.name, { bytes: entry.bytes, onnx: () => ({ name: entry.name, ...entry.prefs }) });
  }

  async function open(file) {
    const name = file.name.replace(/\.onnx$/i, '');
    const bytes = new Uint8Array(await file.arrayBuffer());
    const previous = current;
    // A new model starts on the engine's default for its channels.
    current = { name, bytes, prefs: remembered(name, bytes.length) || { mean: '', std: '', bgr: false, labels: '' } };
    try {
      await load(current.prefs);
    } catch (e) {
      current = previous;
      throw new Error(`Could not open ${file.name}: ${e && e.message ? e.message : e}`);
    }
    // A file of the same name replaces the earlier one; another name goes beside it.
    opened.set(name, current);
    const select = $('model-select');
    const value = `onnx:${name}`;
    if (![...select.options].some((o) => o.value === value)) {
      const option = new Option(`${name} (your ONNX model)`, value);
      option.dataset.onnx = '1';
      select.append(option);
    }
    select.value = value;
    $('onnx-form').hidden = false;
  }

  // An imported model chosen again in the model menu (`value` is `onnx:<name>`).
  async function reselect(value) {
    const entry = opened.get(value.slice('onnx:'.length)) || current;
    if (!entry) return;
    const previous = current;
    current = entry;
    try {
      await load(entry.prefs);
    } catch (e) {
      current = previous;
      throw e;
    }
  }

  async function labels(file) {
    if (!current) throw new Error(`${file.name}: open your .onnx model first, then its labels file.`);
    const text = await file.text();
    try {
      await load({ ...readForm(), labels: text, labelsName: file.name });
    } catch (e) {
      throw new Error(`Could not use ${file.name} as the labels: ${e && e.message ? e.message : e}`);
    }
  }

  $('onnx-input').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (file) ctx.enqueue(() => open(file));
    e.target.value = '';
  });
  $('onnx-labels').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (file) ctx.enqueue(() => labels(file));
    e.target.value = '';
  });
  $('onnx-labels-clear').addEventListener('click', () => ctx.enqueue(() => load({ ...readForm(), labels: '', labelsName: '' })));
  $('onnx-preset').addEventListener('change', (e) => {
    const p = known().find((x) => x.id === e.target.value);
    if (!p) return;
    $('onnx-mean').value = p.mean.join(', ');
    $('onnx-std').value = p.std.join(', ');
    ctx.enqueue(() => load(readForm()));
  });
  for (const id of ['onnx-mean', 'onnx-std', 'onnx-order']) {
    $(id).addEventListener('change', () => ctx.enqueue(() => load(readForm())));
  }

  return {
    open,
    labels,
    // Whether the page's model is the imported one (the bundled ones hide the form).
    shown(on) { $('onnx-form').hidden = !on || !current; },
    reselect,
  };
}
