"""Draws the PWA icons (192, 512 and a maskable 512) from the same design as icon.svg.

Run once after changing the design: `.venv/bin/python scripts/make_icons.py`; outputs are committed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
BROWN, CREAM, AMBER, SUN = (124, 45, 18), (254, 243, 199), (180, 83, 9), (245, 158, 11)


def draw(size: int, *, maskable: bool) -> Image.Image:
    img = Image.new("RGB", (size, size), BROWN)
    d = ImageDraw.Draw(img)
    # Maskable icons keep their picture inside the central 80% "safe zone".
    pad = size * (0.22 if maskable else 0.16)
    x0, y0, x1, y1 = pad, pad * 1.1, size - pad, size - pad * 1.1
    d.rounded_rectangle((x0, y0, x1, y1), radius=size * 0.04, fill=CREAM)
    w, h = x1 - x0, y1 - y0
    d.polygon([(x0 + w * 0.1, y1 - h * 0.15), (x0 + w * 0.35, y0 + h * 0.45), (x0 + w * 0.55, y0 + h * 0.7),
               (x0 + w * 0.7, y0 + h * 0.55), (x1 - w * 0.1, y1 - h * 0.15)], fill=AMBER)  # fmt: skip
    r = w * 0.1
    cx, cy = x0 + w * 0.72, y0 + h * 0.28
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=SUN)
    return img


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    draw(192, maskable=False).save(OUT / "icon-192.png", optimize=True)
    draw(512, maskable=False).save(OUT / "icon-512.png", optimize=True)
    draw(512, maskable=True).save(OUT / "icon-maskable-512.png", optimize=True)
    draw(180, maskable=True).save(OUT / "apple-touch-icon.png", optimize=True)
