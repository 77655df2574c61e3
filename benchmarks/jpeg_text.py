"""How reliably a JPEG title comes out as one text layer, over the positions of the 8 × 8 JPEG grid.

A line of text on a flat page, re-encoded as a JPEG, is decomposed with N = 6; it passes when the
stack is the background, one text layer and empty layers (no ringing, halo or piece of a letter in a
layer of its own, no "photo"). Where the letters fall on the JPEG grid changes the ringing, so each
case is drawn at 16 offsets (8 rows × 2 columns of the grid) and the passes are counted.

It also measures the **ghost**: background-layer pixels more than :data:`GHOST` levels (max channel)
off the page colour, which stay behind as an outline of the title when it is moved or deleted (the
page is one known colour, so any such pixel is residue); the mean count over the offsets, and the
largest difference.

Usage: python benchmarks/jpeg_text.py [--json OUT]
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from strata.engines.classic import ClassicEngine

#: (words, ink, page, stroke outline (width, colour) or None): a dark red on pink, a navy on cream
#: whose chroma blur tints the page, and a red title with a navy stroke outline on the same cream.
TITLES = {
    "red": ("Open House", (75, 26, 41), (232, 116, 124), None),
    "navy": ("Fresh picks daily", (20, 20, 60), (240, 236, 225), None),
    "stroked": ("Summer Sale", (230, 60, 40), (240, 236, 225), (3, (20, 20, 60))),
}
#: (title, letter size in pixels, JPEG quality).
CASES = [
    ("red", 90, 85),
    ("red", 90, 60),
    ("red", 90, 50),
    ("red", 48, 60),
    ("red", 36, 50),
    ("navy", 90, 85),
    ("navy", 90, 60),
    ("navy", 48, 60),
    ("navy", 40, 85),
    ("stroked", 72, 85),
    ("stroked", 72, 60),
]
OFFSETS = [(dy, dx) for dy in range(8) for dx in (0, 4)]
LAYERS = 6
GHOST = 3


def run_case(title: str, size: int, quality: int, dy: int, dx: int) -> tuple[bool, int, int]:
    """(one text layer?, ghost pixels, largest ghost difference) for one title at one offset."""
    words, ink, page, stroke = TITLES[title]
    width, outline = stroke or (0, None)
    image = Image.new("RGB", (760, 520), page)
    font = ImageFont.load_default(size)
    ImageDraw.Draw(image).text(
        (60 + dx, 200 + dy), words, font=font, fill=ink, stroke_width=width, stroke_fill=outline
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    stack = ClassicEngine().decompose(Image.open(buffer), LAYERS)
    passed = stack.names == ["background", "text 1"] + [f"empty {i}" for i in range(1, LAYERS - 1)]
    off = np.abs(np.asarray(stack.layers[0])[..., :3].astype(int) - page).max(axis=-1)
    return passed, int((off > GHOST).sum()), int(off.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the per-case results here")
    args = parser.parse_args()
    started = time.perf_counter()
    results = []
    print(
        "| title | size px | JPEG quality | one text layer | ghost px (mean) | ghost max | misses (dy, dx) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for title, size, quality in CASES:
        runs = {offset: run_case(title, size, quality, *offset) for offset in OFFSETS}
        missed = [offset for offset, (passed, _, _) in runs.items() if not passed]
        ghost = sum(count for _, count, _ in runs.values()) / len(runs)
        worst = max(largest for _, _, largest in runs.values())
        results.append(
            {
                "title": title,
                "size": size,
                "quality": quality,
                "missed": missed,
                "ghost": ghost,
                "ghost_max": worst,
            }
        )
        shown = " ".join(f"({dy},{dx})" for dy, dx in missed)
        print(
            f"| {title} | {size} | {quality} | {len(OFFSETS) - len(missed)} / {len(OFFSETS)} "
            f"| {ghost:.0f} | {worst} | {shown} |"
        )
    total = sum(len(OFFSETS) - len(r["missed"]) for r in results)
    ghosts = sum(r["ghost"] for r in results)
    print(
        f"\nall: {total} / {len(OFFSETS) * len(CASES)}; ghost pixels {ghosts:.0f} per offset over all "
        f"cases ({time.perf_counter() - started:.0f} s)"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
