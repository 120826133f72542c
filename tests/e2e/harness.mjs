// Shared by the browser tests and benchmarks: a static server for dist/ on 127.0.0.1 and
// Debian's Chromium with a software WebGPU adapter.
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, extname, resolve, sep } from 'node:path';
import { chromium } from 'playwright-core';

export const REPO = resolve(import.meta.dirname, '../..');
// CONVSCOPE_DIST: test another built copy of the site (default dist/).
export const DIST = process.env.CONVSCOPE_DIST ? resolve(process.env.CONVSCOPE_DIST) : join(REPO, 'dist');
const CLI = join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'release', 'convscope');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.md': 'text/markdown; charset=utf-8',
  '.csm': 'application/octet-stream', '.webmanifest': 'application/manifest+json',
};

/** Serve dist/ (or `root`) on a free loopback port, with CORS headers when `cors`. Returns
 * { url, close, setRoot }:
 * `setRoot(dir)` serves another folder on the same origin from the next request on;
 * `close({ now: true })` also drops idle keep-alive connections, so that the browser's next
 * request fails as if the server were gone (plain `close()` waits for the browser to drop
 * them); `sent` lists every request answered, as { path, status }.
 *
 * As a static host does, it gives each file a validator (an ETag of its size and mtime) and
 * answers a request that names the current one with 304, bodiless; 'no-cache' makes the
 * browser ask every time, so a page never runs on a stale file. */
export async function serveDist({ root = DIST, cors = false } = {}) {
  root = resolve(root);
  const sent = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = resolve(root, '.' + (path.endsWith('/') ? path + 'index.html' : path));
    if (!file.startsWith(root + sep)) { res.writeHead(403).end(); return; }
    try {
      const info = await stat(file);
      const etag = `"${info.size.toString(16)}-${Math.round(info.mtimeMs * 1000).toString(16)}"`;
      const headers = { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache', etag };
      // `cors`: another origin's page may load the site's modules, wasm and models (embeds).
      if (cors) headers['access-control-allow-origin'] = '*';
      if (req.headers['if-none-match']?.split(/\s*,\s*/).includes(etag)) {
        sent.push({ path, status: 304 });
        res.writeHead(304, headers).end();
        return;
      }
      const body = await readFile(file);
      sent.push({ path, status: 200 });
      res.writeHead(200, headers);
      res.end(body);
    } catch {
      sent.push({ path, status: 404 });
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    sent,
    setRoot: (dir) => { root = resolve(dir); },
    close: ({ now = false } = {}) => new Promise((ok) => {
      server.close(ok);
      if (now) server.closeAllConnections();
    }),
  };
}

/** The WebGPU flags: SwiftShader, the software adapter every machine has, unless
 * CONVSCOPE_CHROMIUM_ARGS names others (bench/gpu.sh: a hardware adapter through Vulkan). */
const WEBGPU_ARGS = process.env.CONVSCOPE_CHROMIUM_ARGS?.split(' ').filter(Boolean)
  ?? ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'];

/** Headless Chromium with a fresh profile and WebGPU (see WEBGPU_ARGS), and `args`. Returns { context, close }. */
export async function launchBrowser({ args = [] } = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'convscope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    ignoreDefaultArgs: ['--headless'],
    viewport: { width: 1200, height: 760 },
    args: ['--headless=new', '--no-sandbox', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', ...WEBGPU_ARGS, ...args],
  });
  return { context, close: async () => { await context.close(); await rm(profile, { recursive: true, force: true }); } };
}

/** Open the page and wait until its first prediction is drawn. Collects console errors. */
export async function openPage(context, url, timeout = 240_000) {
  const page = await context.newPage();
  const consoleErrors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(url);
  await page.waitForFunction(() => window.convscope && (window.convscope.runs > 0 || window.convscope.error), null, { timeout });
  return { page, consoleErrors, requests };
}

/** Click a sample and wait for its prediction. */
export async function pickSample(page, file, timeout = 240_000) {
  const before = await page.evaluate(() => [window.convscope.runs, window.convscope.failures]);
  await page.click(`[data-sample="${file}"]`);
  await page.waitForFunction(([runs, failures]) => window.convscope.runs > runs || window.convscope.failures > failures, before, { timeout });
  return page.evaluate(() => ({ top: window.convscope.lastTop, error: window.convscope.error }));
}

/** For a test file: one server and one browser shared by its tests, started before them and
 * closed after. Returns an object whose `server` and `browser` are set once started. */
export async function sharedBrowser() {
  const { before, after } = await import('node:test');
  const shared = {};
  before(async () => {
    shared.server = await serveDist();
    shared.browser = await launchBrowser();
  });
  after(async () => {
    await shared.browser?.close();
    await shared.server?.close();
  });
  return shared;
}

/** Run the `convscope` CLI (built by cargo) with `args`, giving it a fresh `.npy` path as
 * `{npy}`; returns the array it wrote as [shape, Float32Array]. */
export function cliNpy(args) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it with cargo build --release -p convscope-cli`);
  const out = join(mkdtempSync(join(tmpdir(), 'convscope-npy-')), 'a.npy');
  execFileSync(CLI, args.map((a) => (a === '{npy}' ? out : a)), { cwd: REPO });
  const b = readFileSync(out);
  const hlen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + hlen).toString();
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + hlen, b.byteOffset + b.length));
  return [shape, data];
}

/** Make a 10000x10000 PNG in the page (a green field with a red square) as `window.__huge`,
 * a File as the file input would give it. */
export async function makeHugeImage(page) {
  await page.evaluate(async () => {
    const c = new OffscreenCanvas(10000, 10000);
    const g = c.getContext('2d');
    g.fillStyle = '#3a6';
    g.fillRect(0, 0, 10000, 10000);
    g.fillStyle = '#c33';
    g.fillRect(2000, 2000, 6000, 6000);
    window.__huge = new File([await c.convertToBlob({ type: 'image/png' })], 'huge.png', { type: 'image/png' });
  });
}
