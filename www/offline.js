// Offline use of the full page: registers the service worker (sw.js), which caches the whole
// site, and offers a new build with a small banner rather than swapping it in under the user:
// the page reloads once, after a click on "Update". Pages opened from file://, browsers
// without service workers and embeds (pages inside an iframe) register nothing.

/** Register the worker once, from the full page, when `after` settles (the page's start-up,
 * its first prediction included: a worker installing meanwhile copied the wasm and the
 * weights into its cache while the page compiled and loaded them, and the first prediction
 * came a fifth later on two cores), or `withinMs` after the call if it has not settled by
 * then (a stalled fetch, an adapter request that never answers, a very slow machine: the
 * offline copy is not held back for ever).
 * `onUpdateReady(worker)`, if given, is called when a new build is installed and waiting (the
 * banner shows either way). Sets and returns `window.convscopeOffline` =
 * { enabled, ready, updateReady, cache } at once, for tests: `ready` resolves with the cache
 * name once an active worker controls the page. */
export function registerOffline({ onUpdateReady, after = Promise.resolve(), withinMs = 10_000 } = {}) {
  const state = { enabled: false, ready: Promise.resolve(null), updateReady: false, cache: null };
  window.convscopeOffline = state;
  if (location.protocol === 'file:' || !('serviceWorker' in navigator) || window.top !== window) return state;
  const sw = navigator.serviceWorker;
  state.enabled = true;
  state.ready = new Promise((ok) => {
    if (sw.controller) ok();
    else sw.addEventListener('controllerchange', ok, { once: true });
  }).then(async () => {
    // Served by the controlling worker from its own cache: that build's name.
    const response = await fetch(new URL('./precache.json', import.meta.url));
    state.cache = (await response.json()).cache;
    return state.cache;
  });

  // Reload when the new worker takes over, once, and only after the user asked for it (the
  // first visit's worker takes control too, and must not reload the page).
  let asked = false;
  let reloading = false;
  sw.addEventListener('controllerchange', () => {
    if (!asked || reloading) return;
    reloading = true;
    location.reload();
  });

  let banner = null;
  function offer(registration, worker) {
    state.updateReady = true;
    if (banner) return;
    if (onUpdateReady) onUpdateReady(worker);
    banner = document.createElement('div');
    banner.setAttribute('role', 'status');
    banner.className = 'update-banner';
    banner.style.cssText = 'position:fixed;bottom:16px;left:50%;transform:translateX(-50%);z-index:10;'
      + 'display:flex;gap:12px;align-items:center;padding:10px 16px;border-radius:8px;'
      + 'background:var(--card,#fff);border:1px solid var(--accent,#3b5bdb);box-shadow:0 2px 8px rgba(0,0,0,0.15)';
    const text = document.createElement('span');
    text.textContent = 'A new version of convscope is ready.';
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Update';
    button.addEventListener('click', () => {
      asked = true;
      button.disabled = true;
      // The newest waiting worker (a later build may have replaced `worker` meanwhile).
      (registration.waiting || worker).postMessage({ type: 'skip-waiting' });
    });
    banner.append(text, button);
    document.body.append(banner);
  }

  // A worker that finishes installing while another controls the page is a new build.
  function watch(registration, worker) {
    if (!worker) return;
    const check = () => { if (worker.state === 'installed' && sw.controller) offer(registration, worker); };
    worker.addEventListener('statechange', check);
    check();
  }

  const settled = Promise.race([
    Promise.resolve(after).catch(() => {}),
    new Promise((ok) => setTimeout(ok, withinMs)),
  ]);
  settled.then(() => sw.register(new URL('./sw.js', import.meta.url))).then((registration) => {
    if (registration.waiting) watch(registration, registration.waiting);
    watch(registration, registration.installing);
    registration.addEventListener('updatefound', () => watch(registration, registration.installing));
    // A returning visit: look for a new build now (offline, this fails quietly).
    if (sw.controller) registration.update().catch(() => {});
  }).catch((e) => console.warn(`convscope: offline use unavailable (${e.message})`));
  return state;
}
