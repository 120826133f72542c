// Sets of images for the dataset examples, read in the page: a folder opened (a directory
// input's files) or dropped (its entries), or a zip (its central directory read here, deflated
// entries inflated by the browser's DecompressionStream). A set is `{name, files: [{name,
// blob}]}`, each image named by its path in the set ('/'-separated, as the CLI names them),
// in path order. Only image files are kept. No wasm here (tests/unit reads it under node).

/** The files a set keeps, by name. */
export const IMAGE_FILE = /\.(png|jpe?g|gif|webp|bmp)$/i;

const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
// A macOS resource fork, a hidden file or folder: never a picture of the set.
const hidden = (path) => /(^|\/)(__MACOSX|\.)/.test(path);
const wanted = (path) => IMAGE_FILE.test(path) && !hidden(path);

/** Files from a folder input (their paths under the folder). */
export function folderSet(files) {
  const images = files.filter((f) => wanted(f.webkitRelativePath || f.name));
  const root = (files[0]?.webkitRelativePath || '').split('/')[0] || 'a folder';
  return { name: root, files: images.map((f) => ({ name: f.webkitRelativePath ? f.webkitRelativePath.split('/').slice(1).join('/') : f.name, blob: f })).sort(byName) };
}

/** A dropped folder, read through its entries. */
export async function droppedSet(entry) {
  const files = [];
  const walk = async (dir, path) => {
    const reader = dir.createReader();
    for (;;) {
      const batch = await new Promise((ok, bad) => reader.readEntries(ok, bad));
      if (!batch.length) break;
      for (const e of batch) {
        if (e.isDirectory) await walk(e, `${path}${e.name}/`);
        else if (wanted(`${path}${e.name}`)) files.push({ name: `${path}${e.name}`, blob: await new Promise((ok, bad) => e.file(ok, bad)) });
      }
    }
  };
  await walk(entry, '');
  return { name: entry.name, files: files.sort(byName) };
}

/** The images in a zip file (stored or deflated entries; the browser inflates them). */
export async function zipSet(file) {
  const name = file.name.replace(/\.zip$/i, '');
  const bytes = new Uint8Array(await file.arrayBuffer());
  const view = new DataView(bytes.buffer);
  const bad = (why) => new Error(`${file.name} is not a zip file this page can read (${why})`);
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) { end = i; break; }
  }
  if (end < 0) throw bad('no end of central directory');
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  if (count === 0xffff || at === 0xffffffff) throw bad('a zip64 archive; zip it again with fewer than 65,535 files and under 4 GB');
  const files = [];
  const text = new TextDecoder();
  for (let k = 0; k < count; k++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) throw bad('a broken central directory');
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLen = view.getUint16(at + 28, true);
    const extra = view.getUint16(at + 30, true);
    const comment = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const path = text.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    at += 46 + nameLen + extra + comment;
    if (path.endsWith('/') || !wanted(path)) continue;
    if (flags & 1) throw bad(`${path} is encrypted`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) throw bad(`no local header for ${path}`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + size > bytes.length) throw bad(`${path} is cut short`);
    const data = bytes.subarray(start, start + size);
    let blob;
    if (method === 0) blob = new Blob([data]);
    else if (method === 8) {
      try {
        blob = await new Response(new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'))).blob();
      } catch {
        throw bad(`${path} does not inflate`);
      }
    } else throw bad(`${path} uses compression method ${method}; only stored and deflated entries are read`);
    files.push({ name: path, blob });
  }
  files.sort(byName);
  return { name, files };
}
