#!/usr/bin/env node
// The offline list of a built site: `node tools/precache.mjs DIR` walks DIR (dist/), hashes
// every file, and writes
//   DIR/precache.json  {"cache": "convscope-<hash>", "files": ["./", "index.html", ...],
//                       "lazy": {"pkg-webgpu/...": "<sha256>", ...}}
// (`lazy`: the files the service worker caches when the page first fetches them, not at
// install, each with its sha256, so that only this build's copy is kept: the wasm's WebGPU
// build, which a visitor on the CPU path never loads, and which would otherwise be
// downloaded, 21 MB, beside the first visit's start)
// and the same cache name into DIR/sw.js's `const BUILD = '...';` line, so the service
// worker's own bytes change whenever the site does (browsers only see an update then).
//
// The hash: sha256 of the sorted "path sha256(content)" lines of every file except sw.js and
// precache.json, plus sw.js with its BUILD line put back to 'dev' (so running this twice on
// the same folder gives the same name); its first 16 hex digits. Dotfiles are left out.
// Prints the cache name.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const BUILD_LINE = /^const BUILD = '[^']*';$/m;
const OWN = new Set(['sw.js', 'precache.json']);
/** The files cached when first used: the WebGPU build. */
const isLazy = (path) => path.startsWith('pkg-webgpu/');

/** Every file under `dir`, as sorted '/'-separated paths relative to it, dotfiles left out. */
function walk(dir, prefix = '') {
  const out = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = prefix + entry.name;
    if (entry.isDirectory()) out.push(...walk(dir, path + '/'));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

export function precache(dir) {
  const swPath = join(dir, 'sw.js');
  let sw;
  try {
    sw = readFileSync(swPath, 'utf8');
  } catch {
    throw new Error(`${swPath} is missing: copy www/ into ${dir} first (the service worker is www/sw.js)`);
  }
  if (!BUILD_LINE.test(sw)) throw new Error(`${swPath} has no line \`const BUILD = '...';\` to write the cache name into`);
  const template = sw.replace(BUILD_LINE, "const BUILD = 'dev';");
  const files = walk(dir).filter((p) => !OWN.has(p));
  const lines = files.map((p) => `${p} ${sha256(readFileSync(join(dir, p)))}`);
  lines.push(`sw.js ${sha256(template)}`);
  lines.sort();
  const cache = `convscope-${sha256(lines.join('\n')).slice(0, 16)}`;
  // The page itself under both names it is fetched by ('./' and 'index.html').
  const list = ['./', ...files.filter((p) => !isLazy(p))];
  const lazy = Object.fromEntries(files.filter(isLazy).map((p) => [p, sha256(readFileSync(join(dir, p)))]));
  writeFileSync(join(dir, 'precache.json'), JSON.stringify({ cache, files: list, lazy }, null, 1) + '\n');
  writeFileSync(swPath, template.replace(BUILD_LINE, `const BUILD = '${cache}';`));
  return { cache, files: list, lazy };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node tools/precache.mjs DIR   (DIR: a built site, e.g. dist)');
    process.exit(2);
  }
  try {
    const { cache, files } = precache(dir);
    console.log(`${cache} (${files.length} files)`);
  } catch (e) {
    console.error(`precache: ${e.message}`);
    process.exit(1);
  }
}
