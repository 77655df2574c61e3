"""Render the sample design ``examples/poster.png`` deterministically with Pillow.

The poster is a small graphic design with the kinds of elements the classic engine separates: a
vertical gradient background, a rounded card, a circle overlapping the card's edge, a "photo" (smooth
noise texture), a headline, two text runs, and a button with a label. It is drawn at 4x and reduced
with a box filter, so edges are anti-aliased like a real export.

Run ``python examples/make_examples.py`` to rewrite the file; the output is byte-identical each time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, SCALE = 1200, 800, 4
HERE = Path(__file__).resolve().parent


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans Bold if the system has it, else Pillow's built-in scalable font."""
    for path in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    ):
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _gradient(width: int, height: int) -> Image.Image:
    top, bottom = np.array([232, 240, 250.0]), np.array([196, 214, 240.0])
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    rows = np.rint(top * (1 - t) + bottom * t).astype(np.uint8)
    return Image.fromarray(rows.repeat(width, axis=1), "RGB")


def _photo(width: int, height: int) -> Image.Image:
    """A smooth random texture (a seeded stand-in for a photograph)."""
    rng = np.random.default_rng(7)
    coarse = rng.uniform(0, 255, size=(12, 16, 3)).astype(np.uint8)
    smooth = Image.fromarray(coarse, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 10, size=(height, width, 3))
    return Image.fromarray(np.clip(np.asarray(smooth) + grain, 0, 255).astype(np.uint8), "RGB")


def render(factor: float = 1.0) -> Image.Image:
    """The poster at ``factor`` times WIDTH x HEIGHT (the benchmarks render larger copies natively)."""
    s = SCALE * factor

    def box(*values: float) -> list[int]:
        return [round(v * s) for v in values]

    canvas = _gradient(round(WIDTH * s), round(HEIGHT * s))
    draw = ImageDraw.Draw(canvas)
    # Card, then a circle overlapping its top-right corner.
    draw.rounded_rectangle(box(80, 120, 760, 700), radius=round(36 * s), fill=(255, 255, 255))
    draw.ellipse(box(660, 60, 900, 300), fill=(245, 130, 48))
    # Photo inside the card.
    canvas.paste(_photo(*box(600, 260)), tuple(box(120, 160)))
    # Headline and text runs on the card.
    draw.text(box(120, 450), "Summer Sale", font=_font(round(64 * s)), fill=(24, 32, 56))
    draw.text(box(120, 540), "Fresh layers for every design", font=_font(round(26 * s)), fill=(90, 98, 120))
    # Button with a label.
    draw.rounded_rectangle(box(120, 600, 380, 670), radius=round(35 * s), fill=(37, 99, 235))
    draw.text(box(165, 618), "Shop now", font=_font(round(30 * s)), fill=(255, 255, 255))
    # A text run on the background, right of the card.
    draw.text(box(820, 420), "strata", font=_font(round(80 * s)), fill=(30, 60, 110))
    draw.text(box(824, 530), "layer decomposition", font=_font(round(28 * s)), fill=(60, 80, 120))
    size = (round(WIDTH * factor), round(HEIGHT * factor))
    return canvas.resize(size, Image.Resampling.BOX)


def main() -> None:
    render().save(HERE / "poster.png", optimize=True)
    print(f"wrote {HERE / 'poster.png'}")


if __name__ == "__main__":
    main()
