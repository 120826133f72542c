// The URL-hash schema (www/urlstate.js): defaults, typed values, one message per bad key,
// unknown keys, newer links, garbage never throws, checks against a model, round trips.
// Run: node --test tests/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  SCHEMA_VERSION, DEFAULTS, SAMPLES, MODELS, parseHash, checkAgainstModel, toHash, keysOf, pairsToHash,
} from '../../www/urlstate.js';

// A small deterministic random source, so a failure can be run again.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
const pick = (r, list) => list[int(r, 0, list.length - 1)];

const ALL_KEYS = Object.keys(DEFAULTS);
const VIEWS = ['activations', 'attention', 'patterns'];
const EMBED = ['start', 'caption'];

// Every key, none at its default, as hash text and as the state it reads as.
const FULL_TEXT = {
  v: '2', view: 'attention', model: 'digit-cnn', image: 'rocket.jpg', fit: 'center-crop', backend: 'webgpu',
  layer: 'blocks.10', page: '64', zoom: '7', scale: 'layer', cmap: 'coolwarm', rank: 'active', compare: 'coffee.png', overlay: '40',
  method: 'scorecam', class: '281', contrast: '285', camlayer: 'blocks.15', method2: 'gradcam++', opacity: '70', raw: '1', camcmap: 'viridis',
  player: 'blocks.5', channels: '16..32', steps: '256', size: '128', seed: '4294967295', pfit: 'model',
  start: 'click', caption: 'A cat, seen by Grad-CAM & co. 100% 🐱',
};
const FULL_STATE = {
  v: 2, view: 'attention', model: 'digit-cnn', image: 'rocket.jpg', fit: 'center-crop', backend: 'webgpu',
  layer: 'blocks.10', page: 64, zoom: 7, scale: 'layer', cmap: 'coolwarm', rank: 'active', compare: 'coffee.png', overlay: 40,
  method: 'scorecam', class: 281, contrast: 285, camlayer: 'blocks.15', method2: 'gradcam++', opacity: 70, raw: true, camcmap: 'viridis',
  player: 'blocks.5', channels: Array.from({ length: 16 }, (_, i) => 16 + i), steps: 256, size: 128, seed: 4294967295, pfit: 'model',
  start: 'click', caption: 'A cat, seen by Grad-CAM & co. 100% 🐱',
};
const hashOf = (fields) => `#${Object.entries(fields).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`;

test('the exports', () => {
  assert.equal(SCHEMA_VERSION, 2);
  assert.ok(Object.isFrozen(DEFAULTS));
  assert.deepEqual(MODELS, ['efficientnet-lite0', 'digit-cnn']);
  assert.deepEqual(SAMPLES, ['chelsea.png', 'coffee.png', 'camera.png', 'rocket.jpg', 'astronaut.png']);
  assert.deepEqual(Object.keys(FULL_STATE), ALL_KEYS, 'the tests name every key, in schema order');
  assert.deepEqual(DEFAULTS, {
    v: 2, view: 'activations', model: 'efficientnet-lite0', image: 'chelsea.png', fit: 'whole', backend: 'auto',
    layer: null, page: 0, zoom: null, scale: 'channel', cmap: 'auto', rank: 'index', compare: null, overlay: null,
    method: 'gradcam', class: null, contrast: null, camlayer: null, method2: null, opacity: 55, raw: false, camcmap: 'magma',
    player: null, channels: null, steps: 128, size: 96, seed: 0, pfit: 'as-is',
    start: 'view', caption: null,
  });
});

test('keysOf: the common keys, then the view\'s own', () => {
  const common = ['v', 'view', 'model', 'image', 'fit', 'backend'];
  assert.deepEqual(keysOf('activations'), [...common, 'layer', 'page', 'zoom', 'scale', 'cmap', 'rank', 'compare', 'overlay']);
  assert.deepEqual(keysOf('attention'), [...common, 'method', 'class', 'contrast', 'camlayer', 'method2', 'opacity', 'raw', 'camcmap']);
  assert.deepEqual(keysOf('patterns'), [...common, 'player', 'channels', 'steps', 'size', 'seed', 'pfit']);
  assert.deepEqual(keysOf('nonsense'), ALL_KEYS.filter((k) => !EMBED.includes(k)));
  const union = new Set([...VIEWS.flatMap(keysOf), ...EMBED]);
  assert.deepEqual([...union].sort(), [...ALL_KEYS].sort());
});

test('an empty hash gives the defaults', () => {
  for (const hash of ['', '#', '#&&', undefined, null, 42]) {
    const { state, errors } = parseHash(hash);
    assert.deepEqual(state, DEFAULTS, String(hash));
    assert.deepEqual(errors, [], String(hash));
    assert.ok(!Object.isFrozen(state), 'the state is the caller\'s to change');
  }
});

test('every key, given, reads as its typed value', () => {
  const hash = hashOf(FULL_TEXT);
  const { state, errors } = parseHash(hash);
  assert.deepEqual(errors, []);
  assert.deepEqual(state, FULL_STATE);
  assert.deepEqual(parseHash(hash.slice(1)).state, FULL_STATE, 'the # is optional');
});

test('the example link, a + and percent-decoding', () => {
  const { state, errors } = parseHash('#v=2&model=efficientnet-lite0&image=coffee.png&layer=blocks.10&zoom=7');
  assert.deepEqual(errors, []);
  assert.deepEqual(state, { ...DEFAULTS, image: 'coffee.png', layer: 'blocks.10', zoom: 7 });
  assert.equal(parseHash('#method=gradcam++').state.method, 'gradcam++', 'a + is a plus sign');
  assert.equal(parseHash('#method=gradcam%2B%2B').state.method, 'gradcam++');
  assert.equal(parseHash('#caption=two%20words%2C%20%E2%9C%93').state.caption, 'two words, ✓');
  assert.deepEqual(parseHash('#channels=3,7,9').state.channels, [3, 7, 9]);
  assert.deepEqual(parseHash('#channels=3%2C7%2C9').state.channels, [3, 7, 9]);
  assert.deepEqual(parseHash('#channels=5').state.channels, [5]);
  assert.deepEqual(parseHash('#channels=5..6').state.channels, [5]);
  assert.deepEqual(parseHash('#channels=0..16').state.channels.length, 16);
});

test('a repeated key: the last wins', () => {
  assert.equal(parseHash('#zoom=1&zoom=2').state.zoom, 2);
  const { state, errors } = parseHash('#zoom=1&zoom=x');
  assert.equal(state.zoom, null);
  assert.equal(errors.length, 1);
});

test('an empty value of a key that may be null reads as null', () => {
  const { state, errors } = parseHash('#layer=&zoom=&compare=&channels=&caption=');
  assert.deepEqual(errors, []);
  assert.deepEqual(state, DEFAULTS);
});

// Bad values of every key; each one alone in the full link.
const BAD = {
  v: ['0', 'x', '1.5', '-1', ''],
  view: ['Attention', 'grid', ''],
  model: ['resnet50', 'EfficientNet-Lite0', ''],
  image: ['cat.png', 'CHELSEA.PNG', ''],
  fit: ['crop', ''],
  backend: ['gpu', 'WebGPU'],
  layer: ['a\u0001b', 'x'.repeat(201)],
  page: ['-1', '1.5', 'x', '', ' 3', '9007199254740993'],
  zoom: ['-3', 'seven', '0x10', '1e3'],
  scale: ['bogus', 'Layer'],
  cmap: ['jet'],
  rank: ['min'],
  compare: ['file', 'dog.png'],
  overlay: ['101', '-1', '50%'],
  method: ['', 'a\u0007', 'm'.repeat(201)],
  class: ['-1', 'top', '2.0'],
  contrast: ['1e3', '+5'],
  camlayer: ['\u007f'],
  method2: ['\n'],
  opacity: ['101', '', 'half'],
  raw: ['true', 'yes', '', '2'],
  camcmap: ['coolwarm', 'auto'],
  player: ['x'.repeat(300)],
  channels: ['0..17', '5..5', '9..3', '3,3', 'a..b', '1,,2', ',1', '1-4', '0..',
    Array.from({ length: 17 }, (_, i) => i).join(','), '99999999999999999999..99999999999999999999'],
  steps: ['100', '0', '128.0'],
  size: ['32', '256'],
  seed: ['4294967296', '-1', 'random'],
  pfit: ['fit'],
  start: ['auto', ''],
  caption: ['x'.repeat(201), '🐱'.repeat(201)],
};

test('each bad value gives one message, naming its key; the other keys still apply', () => {
  assert.deepEqual(Object.keys(BAD).sort(), [...ALL_KEYS].sort(), 'a bad value for every key');
  for (const [key, values] of Object.entries(BAD)) {
    for (const bad of values) {
      const { state, errors } = parseHash(hashOf({ ...FULL_TEXT, [key]: bad }));
      const what = `${key}=${JSON.stringify(bad)}`;
      assert.equal(errors.length, 1, `${what}: ${JSON.stringify(errors)}`);
      assert.ok(errors[0].startsWith(`link setting \`${key}\`: \``), `${what}: ${errors[0]}`);
      assert.match(errors[0], /; using .+$/, what);
      assert.deepEqual(state, { ...FULL_STATE, [key]: DEFAULTS[key] }, what);
    }
  }
});

test('the messages say the value and the default', () => {
  assert.deepEqual(parseHash('#scale=bogus').errors, ['link setting `scale`: `bogus` is not one of channel, layer; using channel']);
  assert.deepEqual(parseHash('#steps=100').errors, ['link setting `steps`: `100` is not one of 16, 32, 64, 128, 256, 512; using 128']);
  assert.deepEqual(parseHash('#opacity=101').errors, ['link setting `opacity`: `101` is not a whole number from 0 to 100; using 55']);
  assert.deepEqual(parseHash('#zoom=-3').errors, ['link setting `zoom`: `-3` is not a whole number of 0 or more; using no zoomed channel']);
  assert.deepEqual(parseHash('#raw=yes').errors, ['link setting `raw`: `yes` is not 1 or 0; using 0']);
  assert.deepEqual(parseHash('#channels=3,3').errors, ['link setting `channels`: `3,3` names channel 3 twice; using the first page of channels']);
  const long = parseHash(`#caption=${'y'.repeat(500)}`).errors[0];
  assert.ok(long.length < 150, `a long value is cut short in the message: ${long}`);
});

test('unknown keys are reported and ignored', () => {
  const { state, errors } = parseHash('#foo=1&scale=layer&Zoom=3&foo=2&=x');
  assert.deepEqual(errors, [
    'link setting `foo` is not known; ignored',
    'link setting `Zoom` is not known; ignored',
    'a link setting without a name (`=x`) is ignored',
  ]);
  assert.deepEqual(state, { ...DEFAULTS, scale: 'layer' });
});

test('values written by pairsToHash read back as given: spaces stay spaces, a + stays a plus', () => {
  const { state, errors } = parseHash(pairsToHash([['caption', 'hello world+plus'], ['method', 'gradcam++'], ['', '']]));
  assert.deepEqual(errors, []);
  assert.equal(state.caption, 'hello world+plus');
  assert.equal(state.method, 'gradcam++');
  assert.deepEqual(parseHash('#&&layer=stem&&').errors, [], 'empty pairs say nothing');
});

test('a link from a newer schema: a message, and parsing goes on', () => {
  const { state, errors } = parseHash('#v=3&layer=blocks.3&zoom=4&newkey=1');
  assert.deepEqual(errors, [
    'this link was made by a newer convscope (v=3); some settings may not apply',
    'link setting `newkey` is not known; ignored',
  ]);
  assert.equal(state.v, 3);
  assert.equal(state.layer, 'blocks.3');
  assert.equal(state.zoom, 4);
  assert.equal(state.pfit, 'as-is', "a newer link's left-out keys: today's defaults");
  assert.equal(parseHash('#zoom=4').state.v, 2, 'a missing v reads as the current version');
  assert.ok(toHash(state).startsWith('#v=2&'), 'a link written now is v=2');
});

test('a v=1 link keeps the defaults it was made with (patterns at their own size since v=2)', () => {
  const old = parseHash('#v=1&view=patterns&player=blocks.5');
  assert.deepEqual(old.errors, []);
  assert.deepEqual([old.state.steps, old.state.pfit, old.state.size], [128, 'model', 96]);
  assert.equal(parseHash('#v=2&view=patterns').state.pfit, 'as-is');
  // What it says is kept; a bad value falls back to its own version's default.
  assert.equal(parseHash('#v=1&pfit=as-is').state.pfit, 'as-is');
  const bad = parseHash('#v=1&pfit=fit');
  assert.equal(bad.state.pfit, 'model');
  assert.deepEqual(bad.errors, ['link setting `pfit`: `fit` is not one of as-is, model; using model']);
  assert.deepEqual(parseHash('#pfit=fit').errors, ['link setting `pfit`: `fit` is not one of as-is, model; using as-is']);
  // Written again, it is a v=2 link that says what the old one left out.
  const again = toHash(old.state);
  assert.equal(again, '#v=2&view=patterns&model=efficientnet-lite0&image=chelsea.png&player=blocks.5&pfit=model');
  assert.deepEqual(parseHash(again).state, { ...old.state, v: 2 });
});

// A fake model.
const INFO = {
  name: 'efficientnet-lite0',
  layers: [
    { id: 'stem', kind: 'conv', shape: [32, 112, 112] },
    { id: 'head', kind: 'conv', shape: [1280, 7, 7] },
    { id: 'logits', kind: 'linear', shape: [1000] },
  ],
  classes: 1000,
  methods: [{ id: 'gradcam' }, { id: 'scorecam' }],
};
// Text that links are made of, and some that they are not.
const PIECES = ['&', '=', '#', '?', '%', '%2', '%zz', '%E2%9C', '%ED%A0%80', '+', '..', ',', ' ', '\u0000', '\ud800', '\udc00', '🐱', 'é', '__proto__', 'constructor',
  ...ALL_KEYS, ...Object.values(FULL_TEXT), '-1', '1e9', '99999999999999999999', '0..16', 'null', 'undefined'];

function garbage(r) {
  let s = r() < 0.5 ? '#' : '';
  const n = int(r, 0, 40);
  for (let i = 0; i < n; i += 1) {
    const roll = r();
    if (roll < 0.6) s += pick(r, PIECES);
    else if (roll < 0.9) s += String.fromCharCode(int(r, 0, 0xffff));
    else s += String.fromCodePoint(int(r, 0, 0x10ffff));
  }
  return s;
}

test('garbage never throws and always gives every key, and what it gives writes back', () => {
  const r = rng(1234);
  for (let i = 0; i < 5000; i += 1) {
    const hash = garbage(r);
    const { state, errors } = parseHash(hash);
    assert.deepEqual(Object.keys(state), ALL_KEYS, JSON.stringify(hash));
    assert.ok(Array.isArray(errors) && errors.every((e) => typeof e === 'string'), JSON.stringify(hash));
    // Whatever was read is valid: written and read again, the keys of its view come back.
    const again = parseHash(toHash(state));
    assert.deepEqual(again.errors, [], JSON.stringify(hash));
    for (const key of [...keysOf(state.view), ...EMBED]) {
      if (key !== 'v') assert.deepEqual(again.state[key], state[key], `${key} of ${JSON.stringify(hash)}`);
    }
    checkAgainstModel(state, INFO);
  }
});

const GOOD = {
  ...DEFAULTS, layer: 'head', page: 64, zoom: 1279, camlayer: 'stem', method2: 'scorecam', class: 999, contrast: 0,
  player: 'head', channels: [1264, 1279],
};

test('checkAgainstModel: a state that fits the model passes untouched', () => {
  const { state, errors } = checkAgainstModel(GOOD, INFO);
  assert.deepEqual(errors, []);
  assert.deepEqual(state, GOOD);
  assert.notEqual(state, GOOD, 'a new object');
  assert.deepEqual(checkAgainstModel(DEFAULTS, INFO), { state: DEFAULTS, errors: [] });
});

test('checkAgainstModel: each bad key goes back to its default, with a message', () => {
  const cases = [
    [{ layer: 'blocks.99', page: 0, zoom: null }, 'link setting `layer`: `blocks.99` is not a layer of efficientnet-lite0; using the default'],
    [{ camlayer: 'logits' }, 'link setting `camlayer`: `logits` is not a layer with feature maps (its shape is 1000); using the default'],
    [{ camlayer: 'nope' }, 'link setting `camlayer`: `nope` is not a layer of efficientnet-lite0; using the default'],
    [{ player: 'logits' }, 'link setting `player`: `logits` is not a layer with feature maps (its shape is 1000); using the default'],
    [{ layer: 'stem', zoom: 40, page: 0 }, 'link setting `zoom`: `40` is not a channel of stem (32 channels); using the default'],
    [{ layer: 'stem', zoom: 3, page: 32 }, 'link setting `page`: `32` is past the last channel of stem (32 channels); using the default'],
    [{ player: 'stem', channels: [30, 31, 32] }, 'link setting `channels`: `30..33` has channel 32, past the last of stem (32 channels); using the default'],
    [{ class: 1000 }, 'link setting `class`: `1000` is not a class of efficientnet-lite0 (1000 classes); using the default'],
    [{ contrast: 5000 }, 'link setting `contrast`: `5000` is not a class of efficientnet-lite0 (1000 classes); using the default'],
    [{ method: 'bogus' }, 'link setting `method`: `bogus` is not an attention method of this page; using the default'],
    [{ method2: 'gradcam++' }, 'link setting `method2`: `gradcam++` is not an attention method of this page; using the default'],
  ];
  for (const [change, message] of cases) {
    const input = Object.freeze({ ...GOOD, ...change });
    const { state, errors } = checkAgainstModel(input, INFO);
    assert.deepEqual(errors, [message], JSON.stringify(change));
    const key = message.match(/`(\w+)`/)[1];
    assert.deepEqual(state, { ...GOOD, ...change, [key]: DEFAULTS[key] }, JSON.stringify(change));
  }
});

test('checkAgainstModel: the layer a channel is checked against', () => {
  // No layer named: the model's first layer (stem, 32 channels).
  assert.equal(checkAgainstModel({ ...DEFAULTS, zoom: 40 }, INFO).state.zoom, null);
  assert.equal(checkAgainstModel({ ...DEFAULTS, zoom: 31 }, INFO).state.zoom, 31);
  // A bad layer falls back to the first one, and the zoom is checked against that.
  const { state, errors } = checkAgainstModel({ ...DEFAULTS, layer: 'blocks.99', zoom: 40 }, INFO);
  assert.equal(errors.length, 2);
  assert.equal(state.layer, null);
  assert.equal(state.zoom, null);
  // A flat layer is fine for activations: its channels are its values.
  assert.equal(checkAgainstModel({ ...DEFAULTS, layer: 'logits', zoom: 999 }, INFO).state.zoom, 999);
  // Channels of the patterns view: no layer named, nothing to check against.
  assert.deepEqual(checkAgainstModel({ ...DEFAULTS, channels: [5000] }, INFO).errors, []);
  // The player is bad: the channels are not checked either.
  const bad = checkAgainstModel({ ...DEFAULTS, player: 'logits', channels: [5000] }, INFO);
  assert.equal(bad.errors.length, 1);
  assert.deepEqual(bad.state.channels, [5000]);
});

test('checkAgainstModel: fields left out skip their checks; it never changes its input', () => {
  const input = { ...GOOD, layer: 'x', class: 5000, method: 'y', channels: [1, 2] };
  const copy = structuredClone(input);
  assert.deepEqual(checkAgainstModel(input, {}).errors, []);
  assert.deepEqual(checkAgainstModel(input).errors, []);
  assert.deepEqual(checkAgainstModel(input, { classes: 10 }).errors.length, 1);
  const { state } = checkAgainstModel(input, INFO);
  assert.deepEqual(input, copy);
  assert.notEqual(state.channels, input.channels, 'the channel list is copied');
  const named = checkAgainstModel({ ...DEFAULTS, model: 'digit-cnn', layer: 'x' }, { layers: INFO.layers });
  assert.match(named.errors[0], /is not a layer of digit-cnn;/, 'the model name defaults to state.model');
});

test('toHash: the always keys, then what differs from the defaults', () => {
  assert.equal(toHash(DEFAULTS), '#v=2&view=activations&model=efficientnet-lite0&image=chelsea.png');
  const example = parseHash('#v=1&model=efficientnet-lite0&image=coffee.png&layer=blocks.10&zoom=7').state;
  assert.equal(toHash(example), '#v=2&view=activations&model=efficientnet-lite0&image=coffee.png&layer=blocks.10&zoom=7');
  // Keys of the other views are left out; the view option picks the view.
  assert.equal(toHash(FULL_STATE),
    '#v=2&view=attention&model=digit-cnn&image=rocket.jpg&fit=center-crop&backend=webgpu'
    + '&method=scorecam&class=281&contrast=285&camlayer=blocks.15&method2=gradcam%2B%2B&opacity=70&raw=1&camcmap=viridis'
    + '&start=click&caption=A%20cat,%20seen%20by%20Grad-CAM%20%26%20co.%20100%25%20%F0%9F%90%B1');
  assert.equal(toHash(FULL_STATE, { view: 'patterns' }),
    '#v=2&view=patterns&model=digit-cnn&image=rocket.jpg&fit=center-crop&backend=webgpu'
    + '&player=blocks.5&channels=16..32&steps=256&size=128&seed=4294967295&pfit=model'
    + '&start=click&caption=A%20cat,%20seen%20by%20Grad-CAM%20%26%20co.%20100%25%20%F0%9F%90%B1');
  const channels = (list) => toHash({ ...DEFAULTS, view: 'patterns', channels: list }).split('&').pop();
  assert.equal(channels([16, 17, 18]), 'channels=16..19');
  assert.equal(channels([3, 7, 9]), 'channels=3,7,9');
  assert.equal(channels([5]), 'channels=5');
  assert.equal(channels([2, 1]), 'channels=2,1');
});

test('toHash with all: every view\'s keys (the full page\'s own hash), and they read back', () => {
  const hash = toHash(FULL_STATE, { all: true });
  assert.match(hash, /&layer=.*&method=scorecam.*&player=blocks\.5/, hash);
  assert.match(hash, /^#v=2&view=attention&/, 'the view stays the state\'s');
  const back = parseHash(hash);
  assert.deepEqual(back.errors, []);
  assert.deepEqual(back.state, { ...FULL_STATE, v: 2 });
});

test('toHash never throws and leaves out what would not read back', () => {
  for (const junk of [null, undefined, 42, 'x', {}, [], { view: 'nope', model: 'x', zoom: '7', raw: 'yes', channels: 'all', caption: '\ud800' }]) {
    const hash = toHash(junk);
    assert.equal(hash, '#v=2&view=activations&model=efficientnet-lite0&image=chelsea.png', JSON.stringify(junk));
  }
  assert.equal(toHash(DEFAULTS, null), toHash(DEFAULTS));
});

// A random valid state for `view`: the keys of other views at their defaults.
const IDS = ['stem', 'blocks.10', '/features/0/Conv_output_0', 'a layer with spaces', 'a&b=c#d%e+f?g', 'ünïcode·层', 'x,y:z/@', '..', '0'];
const METHODS = ['gradcam', 'gradcam++', 'integrated-gradients', 'scorecam'];
const TEXT = ['a', ' ', '&', '=', '#', '+', '%', '%20', ',', '\n', 'é', '中', '🐱', '..', '?', '/'];
function randomState(r, view) {
  const maybe = (make) => (r() < 0.3 ? null : make());
  const channels = () => {
    const n = int(r, 1, 16);
    if (r() < 0.5) { const a = int(r, 0, 2000); return Array.from({ length: n }, (_, i) => a + i); }
    const set = new Set();
    while (set.size < n) set.add(int(r, 0, 200));
    return [...set];
  };
  const caption = () => Array.from({ length: int(r, 1, 200) }, () => pick(r, TEXT)).join('');
  const gen = {
    v: () => 2, view: () => view, model: () => pick(r, MODELS), image: () => pick(r, SAMPLES),
    fit: () => pick(r, ['whole', 'center-crop']), backend: () => pick(r, ['auto', 'webgpu', 'cpu']),
    layer: () => maybe(() => pick(r, IDS)), page: () => int(r, 0, 5000), zoom: () => maybe(() => int(r, 0, 5000)),
    scale: () => pick(r, ['channel', 'layer']), cmap: () => pick(r, ['auto', 'viridis', 'magma', 'cividis', 'gray', 'coolwarm']),
    rank: () => pick(r, ['index', 'max', 'mean', 'active']), compare: () => maybe(() => pick(r, SAMPLES)), overlay: () => maybe(() => int(r, 0, 100)),
    method: () => pick(r, [...METHODS, ...IDS]), class: () => maybe(() => int(r, 0, 999)), contrast: () => maybe(() => int(r, 0, 999)),
    camlayer: () => maybe(() => pick(r, IDS)), method2: () => maybe(() => pick(r, METHODS)), opacity: () => int(r, 0, 100),
    raw: () => r() < 0.5, camcmap: () => pick(r, ['magma', 'viridis', 'cividis', 'gray']),
    player: () => maybe(() => pick(r, IDS)), channels: () => maybe(channels), steps: () => pick(r, [16, 32, 64, 128, 256, 512]),
    size: () => pick(r, [64, 96, 128]), seed: () => pick(r, [0, 4294967295, int(r, 0, 4294967295)]), pfit: () => pick(r, ['model', 'as-is']),
    start: () => pick(r, ['view', 'click']), caption: () => maybe(caption),
  };
  const state = { ...DEFAULTS };
  for (const key of [...keysOf(view), ...EMBED]) state[key] = r() < 0.25 ? DEFAULTS[key] : gen[key]();
  state.view = view;
  // Captions are at most 200 characters (code points).
  if (state.caption !== null) state.caption = Array.from(state.caption).slice(0, 200).join('');
  return state;
}

test('round trips: parseHash(toHash(s)) gives s back', () => {
  const r = rng(99);
  for (let i = 0; i < 3000; i += 1) {
    const view = VIEWS[i % 3];
    const s = randomState(r, view);
    const hash = toHash(s);
    const { state, errors } = parseHash(hash);
    assert.deepEqual(errors, [], hash);
    assert.deepEqual(state, s, hash);
    assert.equal(toHash(state), hash, 'writing is stable');
    // Keys come in schema order.
    const keys = hash.slice(1).split('&').map((p) => p.split('=')[0]);
    assert.deepEqual(keys, ALL_KEYS.filter((k) => keys.includes(k)), hash);
    assert.ok(!/[ #]/.test(hash.slice(1)), `no bare spaces or # in ${hash}`);
  }
});

// index.html names the bundled models twice where it cannot import this module: its head's
// preload (a classic script, run before any module loads) and the model menu. Both must be
// MODELS, the head's default DEFAULTS.model. The head's early decode names the samples: SAMPLES,
// its default DEFAULTS.image.
test("index.html's head and model menu list MODELS and SAMPLES", () => {
  const html = readFileSync(new URL('../../www/index.html', import.meta.url), 'utf8');
  const early = html.match(/const image = (\[[^\]]*\])\.includes\(pictured\) \? pictured : '([^']+)';/);
  assert.ok(early, "index.html's head no longer reads the linked image as this test expects");
  assert.deepEqual(JSON.parse(early[1].replaceAll("'", '"')), [...SAMPLES], "the head's sample list");
  assert.equal(early[2], DEFAULTS.image, "the head's default image");
  const head = html.match(/const model = (\[[^\]]*\])\.includes\(named\) \? named : '([^']+)';/);
  assert.ok(head, "index.html's head no longer reads the linked model as this test expects");
  assert.deepEqual(JSON.parse(head[1].replaceAll("'", '"')), [...MODELS], "the head's preload list");
  assert.equal(head[2], DEFAULTS.model, "the head's default model");
  const menu = html.match(/<select id="model-select">([\s\S]*?)<\/select>/);
  assert.ok(menu, 'index.html has no #model-select');
  assert.deepEqual([...menu[1].matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]), [...MODELS], 'the model menu');
});
