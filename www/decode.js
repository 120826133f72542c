// Decoding the images a person gives the page, the same way on the page's thread and in the
// engine's worker (the dataset examples decode there): the browser's decoders, then a
// reduction to what the views need. No DOM but in the SVG path, which only a document takes.

/** The longest side an image keeps on its way to the engine: every view works at the
 * model's input size (a few hundred pixels) or draws at most 448 px, so a photo's full
 * resolution would only fill the wasm heap (a 10000x10000 image is 400 MB of RGBA). */
export const MAX_SIDE = 2048;

/** Decode an image blob to RGBA with the browser's decoders, reduced to at most `MAX_SIDE`
 * pixels on its longer side (`original` keeps the file's own size). */
export async function decode(blob, name) {
  if (!blob || blob.size === 0) throw new Error(`${name} is empty (0 bytes).`);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    bitmap = await svgBitmap(blob, name);
    if (!bitmap) throw new Error(`Could not read ${name} as an image (supported: PNG, JPEG, GIF, WebP, BMP, SVG).`);
  }
  return fromBitmap(bitmap, name);
}

/** `decode`'s result for an image the browser has already decoded (the bitmap is kept, or
 * closed when it is reduced). */
export async function fromBitmap(bitmap, name) {
  const original = { width: bitmap.width, height: bitmap.height };
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale < 1) {
    const full = bitmap;
    const size = { resizeWidth: Math.max(1, Math.round(full.width * scale)), resizeHeight: Math.max(1, Math.round(full.height * scale)), resizeQuality: 'high' };
    bitmap = await createImageBitmap(full, size);
    full.close();
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  // Let the canvas' pixels go now rather than with the next collection.
  canvas.width = 0;
  canvas.height = 0;
  return { name, bitmap, width: bitmap.width, height: bitmap.height, original, rgba: new Uint8Array(data.data.buffer) };
}

/** An SVG drawing drawn at its own size (at most MAX_SIDE), or null when `blob` is not one
 * or this is a worker (SVG needs an <img>, which only a document has). As an image, an SVG
 * loads nothing from elsewhere and runs no script. */
async function svgBitmap(blob, name) {
  if (blob.type !== 'image/svg+xml' && !/\.svg$/i.test(name)) return null;
  if (!globalThis.Image) throw new Error(`${name} is an SVG drawing: open it on its own; a set's images must be PNG, JPEG, GIF, WebP or BMP.`);
  const url = URL.createObjectURL(new Blob([blob], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    if (!img.naturalWidth || !img.naturalHeight) throw new Error(`${name} is an SVG without a size (give its <svg> a width and height).`);
    const scale = Math.min(1, MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
    return await createImageBitmap(img, { resizeWidth: Math.max(1, Math.round(img.naturalWidth * scale)), resizeHeight: Math.max(1, Math.round(img.naturalHeight * scale)) });
  } catch (e) {
    if (e.message?.includes('without a size')) throw e;
    return null;
  } finally {
    URL.revokeObjectURL(url);
  }
}
