"""Writes the hostile inputs of tests/e2e/hostile.test.mjs into OUT_DIR: images a person might
open by mistake or that stress a decoder, and model and labels files that are not what they
say. `python hostile_inputs.py OUT_DIR SAMPLE.png SMALL.onnx`."""
import io
import random
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png(width, height, depth, colour, raw_rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw_rows, 9)) + chunk(b"IEND", b"")


def main(out, sample, onnx):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    photo = Path(sample).read_bytes()
    rng = random.Random(17)
    (out / "truncated.png").write_bytes(photo[: len(photo) // 2])
    (out / "empty.png").write_bytes(b"")
    (out / "notes.png").write_bytes(b"this is a shopping list, not a picture\n")
    (out / "drawing.svg").write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30" fill="red"/></svg>')
    # 16 bits a channel, RGB: a ramp.
    w = h = 64
    rows = b"".join(b"\x00" + b"".join(struct.pack(">HHH", x * 1024, y * 1024, 40000) for x in range(w)) for y in range(h))
    (out / "deep-16bit.png").write_bytes(png(w, h, 16, 2, rows))
    img = Image.open(sample).convert("RGB")
    buf = io.BytesIO()
    img.convert("CMYK").save(buf, "JPEG", quality=90)
    (out / "cmyk.jpg").write_bytes(buf.getvalue())
    # Stored on its side with EXIF orientation 6 (rotate 90 degrees clockwise to view).
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    (out / "exif-rotated.jpg").write_bytes(buf.getvalue())
    rgba = np.array(img.convert("RGBA"))
    rgba[:, : rgba.shape[1] // 2, 3] = 0
    Image.fromarray(rgba).save(out / "transparent.png")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(out / "one-pixel.png")
    Image.new("RGB", (10000, 10000), (50, 160, 100)).save(out / "huge-10000.png", optimize=False, compress_level=1)
    (out / "random.onnx").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    model = Path(onnx).read_bytes()
    (out / "truncated.onnx").write_bytes(model[: len(model) // 2])
    (out / "photo.onnx").write_bytes(photo)
    (out / "random.csm").write_bytes(b"CSM\0" + bytes(rng.randrange(256) for _ in range(4092)))
    (out / "three-labels.txt").write_text("cat\ndog\nbird\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
