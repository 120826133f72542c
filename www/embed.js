// The iframe figure: the URL's hash becomes a <conv-scope> element's attributes; the page tells
// its parent its height (postMessage `{type: 'convscope:height', height}`), so a host can size
// the iframe to the figure. No service worker here: embeds never install one.
import './convscope-element.js';
import { DEFAULTS, SCHEMA_VERSION, parseHash } from './urlstate.js';

// Known keys become attributes (the element reads and checks them); what the element cannot
// see (unknown keys, a newer schema) it shows with its own messages.
const params = new URLSearchParams(location.hash.replace(/^#/, '').replace(/\+/g, '%2B'));
const el = document.createElement('conv-scope');
for (const [key, value] of params) {
  if (key in DEFAULTS) el.setAttribute(key, value);
}
// A link without a version is read as the current one (the page does so too); the element
// would read it as schema 1.
if (!params.has('v')) el.setAttribute('v', String(SCHEMA_VERSION));
el.extraNotes = parseHash(location.hash).errors.filter((e) => !e.startsWith('this link was made by a newer') && !Object.keys(DEFAULTS).some((k) => e.startsWith(`link setting \`${k}\``)));
document.body.append(el);

// The figure's height, to the page that embeds it (any origin may size it; nothing else is said).
let last = 0;
new ResizeObserver(() => {
  const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
  if (height !== last && window.parent !== window) {
    last = height;
    window.parent.postMessage({ type: 'convscope:height', height }, '*');
  }
}).observe(document.body);

// A new hash (a host changing the figure) re-reads the settings.
addEventListener('hashchange', () => location.reload());
