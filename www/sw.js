// convscope's service worker, for the full page only (offline.js registers it; embeds never
// do): on install it caches the whole site (the page, the scripts, the wasm, the bundled
// models, the samples), then answers the site's requests from that cache, so the page works
// offline. A new build is a new cache; it takes over only when the user clicks "Update"
// (offline.js), never by itself: an update applied under the page can loop reloads.
//
// build.sh runs tools/precache.mjs on dist/: it writes precache.json (this build's cache name
// and its list of files) and puts the same name into BUILD below, so this file's bytes change
// with every build and browsers see the update. Served from www/ as is ('dev'), it installs
// nothing.

const BUILD = 'dev';
const PREFIX = 'convscope-';

// The cache this worker serves from. A worker is stopped when idle and started again for the
// next request: BUILD is its own cache's name, so a restarted worker (or the old one still
// serving while a new one waits) never reads another build's cache.
const cacheName = BUILD;

self.addEventListener('install', (event) => {
  // No skipWaiting here: a worker for a new build waits until the page asks (a user's click).
  event.waitUntil(precache());
});

async function precache() {
  const response = await fetch('precache.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`precache.json: HTTP ${response.status} (build the site with ./build.sh)`);
  const list = await response.clone().json();
  if (list.cache !== cacheName) {
    // sw.js and precache.json from two builds (a deployment half done): try again later.
    throw new Error(`precache.json is for ${list.cache} but this worker is ${cacheName}`);
  }
  const cache = await caches.open(cacheName);
  try {
    // 'no-cache': the server is asked for each file, naming the copy in the HTTP cache; a file
    // the page itself has just downloaded (the wasm and the weights, on a first visit) comes
    // back as "not modified" and is taken from that copy, not downloaded a second time. The
    // HTTP cache may hold the last build's files: the server's validator tells them apart.
    await cache.addAll(list.files.map((file) => new Request(file, { cache: 'no-cache' })));
    await cache.put('precache.json', response);
  } catch (e) {
    await caches.delete(cacheName); // no half-filled cache left behind
    throw e;
  }
}

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== cacheName) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(answer(request, (p) => event.waitUntil(p)));
});

// From the cache, else the network; a file of precache.json's `lazy` (the wasm's WebGPU build,
// which the CPU path never loads) is kept as it comes, when it is this build's. The query is
// ignored ('?backend=cpu' is the cached page), and a navigation to a folder ('blog/') gets
// that folder's cached index.html.
async function answer(request, keep) {
  const cache = await caches.open(cacheName);
  const options = { ignoreSearch: true, ignoreVary: true };
  let hit = await cache.match(request, options);
  if (!hit && request.mode === 'navigate') {
    const url = new URL(request.url);
    if (url.pathname.endsWith('/')) hit = await cache.match(new URL('index.html', url).href, options);
  }
  if (hit) return hit;
  const want = await lazyHash(cache, request.url);
  if (!want) return fetch(request);
  // Asked of the server (the HTTP cache may hold another build's copy), and stored while the
  // page reads its own copy (`keep` holds the worker up until then), only when its sha256 is
  // the one this build lists: a server already on a newer build leaves this cache without it.
  const response = await fetch(request, { cache: 'no-cache' });
  if (response.ok) {
    keep(response.clone().arrayBuffer().then(async (body) => {
      const hash = [...new Uint8Array(await crypto.subtle.digest('SHA-256', body))].map((b) => b.toString(16).padStart(2, '0')).join('');
      if (hash === want) await cache.put(request, new Response(body, { status: response.status, headers: response.headers }));
    }));
  }
  return response;
}

/** The sha256 this build lists for `url` when it is one of its lazily cached files, else
 * undefined (precache.json, stored at install, names them relative to the worker's scope). */
async function lazyHash(cache, url) {
  const scope = self.registration.scope;
  const plain = url.split(/[?#]/)[0];
  if (!plain.startsWith(scope)) return undefined;
  const list = await cache.match('precache.json');
  return list ? ((await list.json()).lazy || {})[plain.slice(scope.length)] : undefined;
}

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'skip-waiting') self.skipWaiting();
});
