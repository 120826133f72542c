"""Writes N photos for the examples benchmark: random square crops of the bundled samples
(a quarter of the shorter side up to all of it), 256 px, half of them mirrored, JPEG.
`python bench/example_set.py N OUT_DIR`."""
import random
import sys
from pathlib import Path

from PIL import Image


def main(n, out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    samples = Path(__file__).resolve().parents[1] / "www/samples"
    sources = [Image.open(p).convert("RGB") for p in sorted(samples.iterdir()) if p.suffix in (".png", ".jpg")]
    for i in range(n):
        s = rng.choice(sources)
        w, h = s.size
        side = rng.randint(min(w, h) // 4, min(w, h))
        x, y = rng.randint(0, w - side), rng.randint(0, h - side)
        im = s.crop((x, y, x + side, y + side)).resize((256, 256))
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        im.save(out / f"img{i:05d}.jpg", quality=85)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
