"""A generated set of images for the dataset-examples tests: `image_set.py DIR N [ZIP M]`
writes N pictures (coloured discs, bars and stripes on plain or noisy grounds, 80 to 300
pixels a side, PNG and JPEG, in nested folders) under DIR, one text file named .jpg among
them (a file the index must skip and name), and, with ZIP, a zip of the first M of them
(deflated) at ZIP. Seeded: the same set every run."""

import random
import sys
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw


def picture(rng: random.Random) -> Image.Image:
    w, h = rng.randint(80, 300), rng.randint(80, 300)
    ground = tuple(rng.randint(0, 255) for _ in range(3))
    img = Image.new("RGB", (w, h), ground)
    if rng.random() < 0.3:
        img = Image.effect_noise((w, h), rng.uniform(10, 60)).convert("RGB")
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(1, 4)):
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        x, y = rng.randint(0, w - 10), rng.randint(0, h - 10)
        s = rng.randint(8, max(9, min(w, h) // 2))
        kind = rng.choice(["disc", "bar", "stripes"])
        if kind == "disc":
            d.ellipse([x, y, x + s, y + s], fill=colour)
        elif kind == "bar":
            d.rectangle([x, y, x + s, y + s // 4], fill=colour)
        else:
            for k in range(0, s, 6):
                d.line([x + k, y, x + k, y + s], fill=colour, width=2)
    return img


def main() -> None:
    out, n = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(18)
    names = []
    for i in range(n):
        folder = out / ["", "street", "street/night", "park"][i % 4]
        folder.mkdir(parents=True, exist_ok=True)
        ext = "png" if i % 3 else "jpg"
        path = folder / f"img{i:03d}.{ext}"
        picture(rng).save(path, quality=90) if ext == "jpg" else picture(rng).save(path)
        names.append(path)
    (out / "park" / "notes.jpg").write_text("not an image, only named like one\n")
    if len(sys.argv) > 4:
        with zipfile.ZipFile(sys.argv[3], "w", zipfile.ZIP_DEFLATED) as z:
            for p in names[: int(sys.argv[4])]:
                z.write(p, p.relative_to(out).as_posix())


if __name__ == "__main__":
    main()
