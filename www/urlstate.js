// The page's state in the URL hash: the one schema that the page, the embed page and the
// custom element read and write. Pure: no DOM, no window; it runs in node too.
//
// Writing a link by hand
// ----------------------
// The hash is key=value pairs joined by &, like a query string:
//
//   #v=1&model=efficientnet-lite0&image=coffee.png&layer=blocks.10&zoom=7
//
// Leave a key out for its default (the defaults of the link's `v`: see `was` below). Keys and values are case-sensitive. Percent-encode
// &, #, % and spaces (%20); a + is a plus sign (method=gradcam++), not a space. If a key is
// given twice, the last one wins. A bad value gets a message and only that key falls back
// to its default; an unknown key gets a message and is ignored.
//
//   key       what                                               values (default first)
//   v         schema version                                     2 | 1
//   view      the view the link is about                         activations | attention | patterns
//   model     bundled model                                      efficientnet-lite0 | digit-cnn
//   image     sample image                                       chelsea.png | coffee.png | camera.png |
//                                                                rocket.jpg | astronaut.png
//   fit       how the image becomes the input                    whole | center-crop
//   backend   where the network runs                             auto | webgpu | cpu
//  activations:
//   layer     layer id                                           (the model's first layer) | blocks.10 ...
//   page      first channel of the page shown                    0 | whole number
//   zoom      zoomed channel                                     (none) | whole number
//   scale     colour scale                                       channel | layer
//   cmap      colormap                                           auto | viridis | magma | cividis | gray |
//                                                                coolwarm
//   rank      channel order                                      index | max | mean | active
//   compare   second image, side by side                         (none) | a sample id
//   overlay   zoom drawn over the image, opacity %               (off) | 0..100
//  attention:
//   method    attention method id                                gradcam | scorecam | gradcam%2B%2B ...
//   class     class explained, by index                          (the top-1) | whole number
//   contrast  class explained against, by index                  (none) | whole number
//   camlayer  layer of the CAM methods                           (the default CAM layer) | layer id
//   method2   a second method beside the first                   (none) | method id
//   opacity   map opacity %                                      55 | 0..100
//   raw       the raw map, at the method's own resolution        0 | 1
//   camcmap   colormap of the maps                               magma | viridis | cividis | gray
//  patterns:
//   player    layer                                              (the page's default) | layer id
//   channels  channels, at most 16: a..b (b excluded) or a list  (the first page) | 16..32 | 3,7,9
//   steps     optimization steps                                 128 | 16 | 32 | 64 | 256 | 512
//   size      pattern size in pixels                             96 | 64 | 128
//   seed      random seed                                        0 | 0..4294967295
//   pfit      how the pattern is fed to the model                as-is | model
//  embed page only:
//   start     when the embed runs the model                      view | click
//   caption   text under the embed, at most 200 characters       (none) | any text
//
// Version 2 changed a default (bench/patterns-curve.sh measured it): a patterns link of v=1
// that leaves out `pfit` still means the pattern resized to the model's input.
//
// A link does not say which layers, classes or methods exist: `checkAgainstModel` checks
// those once the model is loaded.

export const SCHEMA_VERSION = 2;
export const MODELS = Object.freeze(['efficientnet-lite0', 'digit-cnn']);
export const SAMPLES = Object.freeze(['chelsea.png', 'coffee.png', 'camera.png', 'rocket.jpg', 'astronaut.png']);

const VIEWS = ['activations', 'attention', 'patterns'];
const MAX_CHANNELS = 16; // a patterns page
const MAX_ID = 200; // characters in a layer or method id
const MAX_CAPTION = 200;
const MAX_SEED = 4294967295;

// Value kinds: `parse(text)` gives `{ value }` or `{ why }` (why the text is refused, to
// follow the bad value in a message); `show(value)` gives the text back.
const ok = (value) => ({ value });
const no = (why) => ({ why });
const digits = (s) => /^[0-9]+$/.test(s);

const oneOf = (values) => ({
  parse: (s) => (values.includes(s) ? ok(s) : no(`is not one of ${values.join(', ')}`)),
  show: String,
});

function int(min, max = Number.MAX_SAFE_INTEGER) {
  const range = max === Number.MAX_SAFE_INTEGER ? `of ${min} or more` : `from ${min} to ${max}`;
  return {
    parse: (s) => (digits(s) && Number(s) >= min && Number(s) <= max ? ok(Number(s)) : no(`is not a whole number ${range}`)),
    show: String,
  };
}

const intOf = (values) => ({
  parse: (s) => (digits(s) && values.includes(Number(s)) ? ok(Number(s)) : no(`is not one of ${values.join(', ')}`)),
  show: String,
});

// Layer and method ids: which exist is only known with the model (`checkAgainstModel`).
const id = (what) => ({
  parse: (s) => (s.length > 0 && s.length <= MAX_ID && !/[\u0000-\u001f\u007f]/.test(s) ? ok(s) : no(`is not a ${what}`)),
  show: String,
});

const bool = {
  parse: (s) => (s === '1' ? ok(true) : s === '0' ? ok(false) : no('is not 1 or 0')),
  show: (v) => (v === true ? '1' : v === false ? '0' : String(v)),
};

const version = {
  parse: (s) => (digits(s) && Number(s) >= 1 && Number(s) <= Number.MAX_SAFE_INTEGER ? ok(Number(s)) : no(`is not a schema version (1 to ${SCHEMA_VERSION})`)),
  show: String,
};

const text = (max) => ({
  parse: (s) => (Array.from(s).length <= max ? ok(s) : no(`is longer than ${max} characters`)),
  show: String,
});

// A channel selection: `a..b` (b excluded) or a list `3,7,9`; kept as the list of channels.
const channelList = {
  parse(s) {
    const range = /^([0-9]+)\.\.([0-9]+)$/.exec(s);
    let list;
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (!Number.isSafeInteger(b)) return no('has a channel number too large');
      if (b <= a) return no('is an empty range (the end is excluded)');
      if (b - a > MAX_CHANNELS) return no(`has ${b - a} channels, more than ${MAX_CHANNELS}`);
      list = Array.from({ length: b - a }, (_, i) => a + i);
    } else {
      const parts = s.split(',');
      if (!parts.every(digits)) return no('is not a range like 16..32 or a list like 3,7,9');
      list = parts.map(Number);
      if (!list.every(Number.isSafeInteger)) return no('has a channel number too large');
      if (list.length > MAX_CHANNELS) return no(`has ${list.length} channels, more than ${MAX_CHANNELS}`);
      const twice = list.find((c, i) => list.indexOf(c) !== i);
      if (twice !== undefined) return no(`names channel ${twice} twice`);
    }
    return ok(list);
  },
  // A run of consecutive channels as a..b, anything else as a list.
  show(list) {
    if (!Array.isArray(list)) throw new TypeError('channels: not a list');
    const run = list.length > 1 && list.every((c, i) => i === 0 || c === list[i - 1] + 1);
    return run ? `${list[0]}..${list[list.length - 1] + 1}` : list.join(',');
  },
};

// A kind that also takes the empty text (or nothing) as null.
const orNone = (kind) => ({
  parse: (s) => (s === '' ? ok(null) : kind.parse(s)),
  show: (v) => (v === null ? '' : kind.show(v)),
});

// The schema, in the order links are written. `none` says what null means, for messages;
// `was[v]` is the default a link of the older version `v` meant.
const SCHEMA = [
  { key: 'v', group: 'common', def: SCHEMA_VERSION, kind: version },
  { key: 'view', group: 'common', def: 'activations', kind: oneOf(VIEWS) },
  { key: 'model', group: 'common', def: 'efficientnet-lite0', kind: oneOf(MODELS) },
  { key: 'image', group: 'common', def: 'chelsea.png', kind: oneOf(SAMPLES) },
  { key: 'fit', group: 'common', def: 'whole', kind: oneOf(['whole', 'center-crop']) },
  { key: 'backend', group: 'common', def: 'auto', kind: oneOf(['auto', 'webgpu', 'cpu']) },

  { key: 'layer', group: 'activations', def: null, kind: orNone(id('layer id')), none: "the model's first layer" },
  { key: 'page', group: 'activations', def: 0, kind: int(0) },
  { key: 'zoom', group: 'activations', def: null, kind: orNone(int(0)), none: 'no zoomed channel' },
  { key: 'scale', group: 'activations', def: 'channel', kind: oneOf(['channel', 'layer']) },
  { key: 'cmap', group: 'activations', def: 'auto', kind: oneOf(['auto', 'viridis', 'magma', 'cividis', 'gray', 'coolwarm']) },
  { key: 'rank', group: 'activations', def: 'index', kind: oneOf(['index', 'max', 'mean', 'active']) },
  { key: 'compare', group: 'activations', def: null, kind: orNone(oneOf(SAMPLES)), none: 'no second image' },
  { key: 'overlay', group: 'activations', def: null, kind: orNone(int(0, 100)), none: 'no overlay' },

  { key: 'method', group: 'attention', def: 'gradcam', kind: id('method id') },
  { key: 'class', group: 'attention', def: null, kind: orNone(int(0)), none: 'the top-1 class' },
  { key: 'contrast', group: 'attention', def: null, kind: orNone(int(0)), none: 'no contrast class' },
  { key: 'camlayer', group: 'attention', def: null, kind: orNone(id('layer id')), none: 'the default CAM layer' },
  { key: 'method2', group: 'attention', def: null, kind: orNone(id('method id')), none: 'no second method' },
  { key: 'opacity', group: 'attention', def: 55, kind: int(0, 100) },
  { key: 'raw', group: 'attention', def: false, kind: bool },
  { key: 'camcmap', group: 'attention', def: 'magma', kind: oneOf(['magma', 'viridis', 'cividis', 'gray']) },

  { key: 'player', group: 'patterns', def: null, kind: orNone(id('layer id')), none: "the page's default layer" },
  { key: 'channels', group: 'patterns', def: null, kind: orNone(channelList), none: 'the first page of channels' },
  { key: 'steps', group: 'patterns', def: 128, kind: intOf([16, 32, 64, 128, 256, 512]) },
  { key: 'size', group: 'patterns', def: 96, kind: intOf([64, 96, 128]) },
  { key: 'seed', group: 'patterns', def: 0, kind: int(0, MAX_SEED) },
  { key: 'pfit', group: 'patterns', def: 'as-is', was: { 1: 'model' }, kind: oneOf(['as-is', 'model']) },

  { key: 'start', group: 'embed', def: 'view', kind: oneOf(['view', 'click']) },
  { key: 'caption', group: 'embed', def: null, kind: orNone(text(MAX_CAPTION)), none: 'no caption' },
];
const BY_KEY = new Map(SCHEMA.map((s) => [s.key, s]));
const ALWAYS = new Set(['v', 'view', 'model', 'image']); // written in every link

/** Every key's default. */
export const DEFAULTS = Object.freeze(Object.fromEntries(SCHEMA.map((s) => [s.key, s.def])));

/** The keys that matter for `view` (the common keys, then the view's own), in link order.
 * Any other `view`: the common keys and those of every view. Embed keys are not included. */
export function keysOf(view) {
  const groups = VIEWS.includes(view) ? ['common', view] : ['common', ...VIEWS];
  return SCHEMA.filter((s) => groups.includes(s.group)).map((s) => s.key);
}

// A value as messages quote it: at most 40 characters.
function quote(value) {
  const chars = Array.from(String(value));
  return chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : chars.join('');
}

// The text of a value, or '?' when it has none (messages only).
function shown(spec, value) {
  try {
    return spec.kind.show(value);
  } catch {
    return '?';
  }
}

// What leaving `spec`'s key out means in a link of schema version `v`.
const defaultOf = (spec, v) => (spec.was && v in spec.was ? spec.was[v] : spec.def);

const same = (a, b) => a === b || (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]));

/** Read a hash (`#a=1&b=2`, with or without the '#', or empty) into `{ state, errors }`:
 * `state` has every key, defaults where the link says nothing or something bad; `errors`
 * has one message per bad or unknown key. Never throws. */
export function parseHash(hash) {
  const state = { ...DEFAULTS };
  const errors = [];
  let body = typeof hash === 'string' ? hash : '';
  if (body.startsWith('#')) body = body.slice(1);
  // A + is a plus sign (gradcam++), not a space; the last of a repeated key wins.
  const given = new Map(new URLSearchParams(body.replace(/\+/g, '%2B')));
  for (const spec of SCHEMA) {
    if (!given.has(spec.key)) continue;
    const raw = given.get(spec.key);
    const r = spec.kind.parse(raw);
    if (r.why !== undefined) {
      const def = defaultOf(spec, state.v);
      state[spec.key] = def;
      const fallback = def === null ? spec.none : spec.kind.show(def);
      errors.push(`link setting \`${spec.key}\`: \`${quote(raw)}\` ${r.why}; using ${fallback}`);
      continue;
    }
    state[spec.key] = r.value;
    if (spec.key === 'v' && r.value > SCHEMA_VERSION) {
      errors.push(`this link was made by a newer convscope (v=${r.value}); some settings may not apply`);
    }
  }
  // An older link's left-out keys mean what they meant when it was made.
  for (const spec of SCHEMA) {
    if (!given.has(spec.key)) state[spec.key] = defaultOf(spec, state.v);
  }
  for (const [key, value] of given) {
    // '&&' (an empty pair) says nothing; a value without a name is reported as such.
    if (key === '' && value === '') continue;
    if (key === '') errors.push(`a link setting without a name (\`=${quote(value)}\`) is ignored`);
    else if (!BY_KEY.has(key)) errors.push(`link setting \`${quote(key)}\` is not known; ignored`);
  }
  return { state, errors };
}

/** `[key, value]` pairs as hash text that parseHash reads back as given (spaces as %20, a +
 * as %2B: URLSearchParams' own text would turn spaces into + signs). */
export function pairsToHash(pairs) {
  return `#${[...pairs].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
}

/** Check the keys that depend on the model against the loaded model's
 * `{ layers: [{ id, kind, shape }], classes, methods: [{ id }], name }` (a field left out
 * skips its checks; `name` defaults to `state.model`). Each bad key goes back to its
 * default, with a message. Returns `{ state, errors }`, a new state. */
export function checkAgainstModel(state, info = {}) {
  const out = { ...DEFAULTS, ...state };
  if (Array.isArray(out.channels)) out.channels = [...out.channels];
  const errors = [];
  const { layers, classes, methods } = info || {};
  const name = (info && info.name) || out.model;
  const reset = (key, why) => {
    errors.push(`link setting \`${key}\`: \`${quote(shown(BY_KEY.get(key), out[key]))}\` ${why}; using the default`);
    out[key] = DEFAULTS[key];
  };

  if (Array.isArray(layers)) {
    const find = (layerId) => layers.find((l) => l && l.id === layerId);
    const shape = (l) => (Array.isArray(l.shape) ? l.shape : []);
    const count = (l) => (l && Number.isInteger(shape(l)[0]) ? shape(l)[0] : null);
    if (out.layer !== null && !find(out.layer)) reset('layer', `is not a layer of ${name}`);
    // The attention and patterns views need feature maps: [channels, height, width].
    for (const key of ['camlayer', 'player']) {
      if (out[key] === null) continue;
      const l = find(out[key]);
      if (!l) reset(key, `is not a layer of ${name}`);
      else if (shape(l).length !== 3) reset(key, `is not a layer with feature maps (its shape is ${shape(l).join('×')})`);
    }
    const shownLayer = out.layer === null ? layers[0] : find(out.layer);
    const n = count(shownLayer);
    if (n !== null) {
      if (out.page >= n) reset('page', `is past the last channel of ${shownLayer.id} (${n} channels)`);
      if (out.zoom !== null && out.zoom >= n) reset('zoom', `is not a channel of ${shownLayer.id} (${n} channels)`);
    }
    // With no layer named, the page picks its own: nothing to check the channels against.
    const m = out.player === null ? null : count(find(out.player));
    if (m !== null && out.channels !== null) {
      const past = out.channels.find((c) => c >= m);
      if (past !== undefined) reset('channels', `has channel ${past}, past the last of ${out.player} (${m} channels)`);
    }
  }
  if (Number.isInteger(classes)) {
    for (const key of ['class', 'contrast']) {
      if (out[key] !== null && out[key] >= classes) reset(key, `is not a class of ${name} (${classes} classes)`);
    }
  }
  if (Array.isArray(methods)) {
    for (const key of ['method', 'method2']) {
      if (out[key] !== null && !methods.some((m) => m && m.id === out[key])) reset(key, 'is not an attention method of this page');
    }
  }
  return { state: out, errors };
}

// Percent-encode a value for the hash, leaving , : / @ readable (they are plain text there).
const encode = (s) => encodeURIComponent(s).replace(/%2C/g, ',').replace(/%3A/g, ':').replace(/%2F/g, '/').replace(/%40/g, '@');

// A key's value as hash text, or null when parseHash would not give the same value back.
function serialize(spec, value) {
  try {
    const t = spec.kind.show(value);
    const back = spec.kind.parse(t);
    return back.why === undefined && same(back.value, value) ? encode(t) : null;
  } catch {
    return null;
  }
}

/** Write `state` as a hash: always `v`, `view`, `model` and `image`, then the keys that
 * differ from their defaults, of the link's view only (`view`, else `state.view`) and the
 * embed keys, in schema order. A value that would not read back the same is left out (and
 * `view`, `model`, `image` then take their defaults). */
export function toHash(state, options = {}) {
  const s = state && typeof state === 'object' ? state : {};
  const want = options && options.view;
  const view = VIEWS.includes(want) ? want : VIEWS.includes(s.view) ? s.view : DEFAULTS.view;
  // `all`: every view's keys (the full page's own hash keeps them all).
  const keys = new Set([...keysOf(options && options.all ? null : view), 'start', 'caption']);
  const parts = [];
  for (const spec of SCHEMA) {
    if (!keys.has(spec.key)) continue;
    const value = spec.key === 'v' ? SCHEMA_VERSION : spec.key === 'view' ? view : s[spec.key];
    if (ALWAYS.has(spec.key)) {
      parts.push(`${spec.key}=${serialize(spec, value) ?? encode(spec.kind.show(spec.def))}`);
    } else if (value !== undefined && !same(value, spec.def)) {
      const t = serialize(spec, value);
      if (t !== null) parts.push(`${spec.key}=${t}`);
    }
  }
  return `#${parts.join('&')}`;
}
