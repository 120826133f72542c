// "Your model": open or drop an .onnx file (and optionally a labels file); the engine imports
// it in this page, nothing is sent anywhere. A small form sets how images become its input
// (mean, std, channel order, labels), with presets, remembered per model in localStorage.

const $ = (id) => document.getElementById(id);

export const PRESETS = {
  imagenet: { label: 'ImageNet mean/std (torchvision)', mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] },
  'minus-one-one': { label: 'values in [-1, 1]', mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] },
  'zero-one': { label: 'values in [0, 1]', mean: [0, 0, 0], std: [255, 255, 255] },
  'zero-255': { label: 'values in [0, 255]', mean: [0, 0, 0], std: [1, 1, 1] },
};

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

function presetOf(prefs) {
  const same = (a, b) => a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
  const hit = Object.entries(PRESETS).find(([, p]) => same(p.mean, prefs.mean) && same(p.std, prefs.std));
  return hit ? hit[0] : 'custom';
}

const numbers = (text, what) => {
  const v = text.split(',').map((s) => Number(s.trim()));
  if (!(v.length === 1 || v.length === 3) || v.some((x) => !Number.isFinite(x))) {
    throw new Error(`${what}: give three numbers (R, G, B) or one, separated by commas; got "${text}"`);
  }
  return v.length === 1 ? [v[0], v[0], v[0]] : v;
};

/** `ctx`: `engine()`, `use(model, name, source)` (makes it the page's model and analyses
 * the image), `enqueue(job)`. Returns `{ open(file), labels(file), active() }`. */
export function setupOnnx(ctx) {
  // The imported model: its file's bytes, name and preprocessing.
  let current = null;

  function fillForm(prefs) {
    $('onnx-preset').value = presetOf(prefs);
    $('onnx-mean').value = prefs.mean.join(', ');
    $('onnx-std').value = prefs.std.join(', ');
    $('onnx-order').value = prefs.bgr ? 'bgr' : 'rgb';
    const n = prefs.labels ? prefs.labels.split('\n').filter((l) => l.trim()).length : 0;
    $('onnx-labels-note').textContent = prefs.labels ? `labels: ${prefs.labelsName || 'file'}` : 'no labels (classes shown by number)';
    $('onnx-labels-clear').hidden = n === 0;
  }

  function readForm() {
    return {
      ...current.prefs,
      mean: numbers($('onnx-mean').value, 'mean'),
      std: numbers($('onnx-std').value, 'std'),
      bgr: $('onnx-order').value === 'bgr',
    };
  }

  async function load(prefs) {
    const engine = ctx.engine();
    const model = engine.loadOnnx(current.bytes, current.name, Float32Array.from(prefs.mean), Float32Array.from(prefs.std), prefs.bgr, prefs.labels || '');
    current.prefs = prefs;
    remember(current.name, current.bytes.length, prefs);
    fillForm(prefs);
    const info = model.info();
    $('onnx-summary').textContent = `${current.name}: ${info.input.channels}×${info.input.height}×${info.input.width} input, ${info.layers.length} layers, ${info.classes} classes${info.labels ? `, ${info.labels} labels` : ''}. ${info.description}.`;
    await ctx.use(model, current.name, { bytes: current.bytes, onnx: () => current && { name: current.name, ...current.prefs } });
  }

  async function open(file) {
    const name = file.name.replace(/\.onnx$/i, '');
    const bytes = new Uint8Array(await file.arrayBuffer());
    const previous = current;
    current = { name, bytes, prefs: remembered(name, bytes.length) || { ...PRESETS.imagenet, bgr: false, labels: '' } };
    try {
      await load(current.prefs);
    } catch (e) {
      current = previous;
      throw new Error(`Could not open ${file.name}: ${e && e.message ? e.message : e}`);
    }
    const select = $('model-select');
    let option = select.querySelector('option[data-onnx]');
    if (!option) {
      option = document.createElement('option');
      option.dataset.onnx = '1';
      select.append(option);
    }
    option.value = `onnx:${name}`;
    option.textContent = `${name} (your ONNX model)`;
    select.value = option.value;
    $('onnx-form').hidden = false;
  }

  async function labels(file) {
    if (!current) throw new Error(`${file.name}: open your .onnx model first, then its labels file.`);
    const text = await file.text();
    await load({ ...readForm(), labels: text, labelsName: file.name });
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
    const p = PRESETS[e.target.value];
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
    reselect() { return current ? load(current.prefs) : null; },
  };
}
