#!/usr/bin/env python3
"""Write the page's app icons, www/icon-192.png and www/icon-512.png (for the manifest).

A 3x3 grid of feature-map-like squares, coloured along viridis, on the page's accent colour
(style.css: --accent #3b5bdb). Standard library only (zlib + struct write the PNG); the icons
are committed, so this runs only when they change. Usage:
    python3 tools/gen_icons.py
"""
import pathlib, struct, zlib

ACCENT = (0x3B, 0x5B, 0xDB)
# Nine viridis samples, dark to bright, read across the grid row by row.
CELLS = [(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
         (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44)]


def icon(size):
    """RGB rows of a `size` x `size` icon: a margin of 1/8, cells with gaps of 1/32."""
    margin, gap = size // 8, size // 32
    cell = (size - 2 * margin - 2 * gap) // 3
    start = (size - 3 * cell - 2 * gap) // 2
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            colour = ACCENT
            cx, cy = (x - start) // (cell + gap), (y - start) // (cell + gap)
            inside = (x - start) % (cell + gap) < cell and (y - start) % (cell + gap) < cell
            if x >= start and y >= start and cx < 3 and cy < 3 and inside:
                colour = CELLS[cy * 3 + cx]
            row += bytes(colour)
        rows.append(bytes(row))
    return rows


def png(rows):
    """A truecolour 8-bit PNG of these RGB rows."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    height, width = len(rows), len(rows[0]) // 3
    raw = b''.join(b'\x00' + r for r in rows)  # filter type 0 on every row
    return (b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw, 9))
            + chunk(b'IEND', b''))


www = pathlib.Path(__file__).resolve().parent.parent / 'www'
for size in (192, 512):
    (www / f'icon-{size}.png').write_bytes(png(icon(size)))
    print(f'www/icon-{size}.png')
