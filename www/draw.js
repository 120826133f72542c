// Drawing helpers shared by the views: engine pictures to canvases and PNG downloads,
// numbers for people. No tensor maths here.

import { colormapRamp } from './pkg/convscope_web.js';

// RGBA bytes from the engine as ImageData, without a copy.
export const imageData = (rgba, width, height) => new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.length), width, height);

export const fmt = (v) => (v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : Number(v.toPrecision(4)).toString());
export const pct = (v) => `${(v * 100).toFixed(v > 0 && v < 0.01 ? 1 : 0)}%`;

// A colormap's ramp, left to right, into a 256x1 legend canvas.
export function drawRamp(canvas, name) {
  canvas.getContext('2d').putImageData(imageData(colormapRamp(name, 256), 256, 1), 0, 0);
}

// Draw an engine picture `{width, height, rgba}` into `canvas`, resizing it.
export function paint(canvas, pic) {
  canvas.width = pic.width;
  canvas.height = pic.height;
  canvas.getContext('2d').putImageData(imageData(pic.rgba, pic.width, pic.height), 0, 0);
}

// Save an engine picture as a PNG file; records what was saved in `probe.lastExport`.
export function download(pic, filename, probe) {
  const canvas = document.createElement('canvas');
  paint(canvas, pic);
  return new Promise((ok) => canvas.toBlob((blob) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = filename;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    probe.lastExport = { filename, width: pic.width, height: pic.height, bytes: blob.size };
    ok();
  }, 'image/png'));
}
