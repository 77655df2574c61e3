"""Text lines found by the shape of their letters (``strata.imaging.text``), and the classic engine's
use of them on busy photo pages."""

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import binary_dilation, binary_fill_holes

from strata.engines.classic import ClassicEngine
from strata.imaging.compose import reconstruction_error
from strata.imaging.text import _components, _label_boxes, text_lines

TITLE_AT = (40, 40)


def busy_page(size: tuple[int, int], seed: int) -> Image.Image:
    """An illustration-like page: a smooth colour field covered with many small ellipses."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    page = Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(page)
    for _ in range(160):
        x, y, r = int(rng.integers(0, size[0])), int(rng.integers(0, size[1])), int(rng.integers(4, 30))
        draw.ellipse(
            [x - r, y - 0.6 * r, x + r, y + 0.6 * r], fill=tuple(int(v) for v in rng.integers(0, 256, 3))
        )
    return page


def with_title(page: Image.Image, text: str, **style) -> tuple[Image.Image, np.ndarray]:
    """``page`` with ``text`` drawn on it at 60 px, and the mask of the letters' fill."""
    font = ImageFont.load_default(60)
    image = page.copy()
    ImageDraw.Draw(image).text(TITLE_AT, text, fill=(255, 250, 240), font=font, **style)
    letters = Image.new("L", page.size, 0)
    ImageDraw.Draw(letters).text(TITLE_AT, text, fill=255, font=font)
    return image, np.asarray(letters) >= 128


def as_float(image: Image.Image) -> np.ndarray:
    return np.asarray(image, np.float32) / 255.0


def test_a_title_on_a_busy_page_is_found_letter_by_letter() -> None:
    image, letters = with_title(busy_page((480, 360), seed=1), "HOLA AMIGOS")
    found = text_lines(as_float(image)) > 0
    count, labels = cv2.connectedComponents(letters.astype(np.uint8))
    coverage = [found[labels == glyph].mean() for glyph in range(1, count)]
    assert count - 1 == 10 and min(coverage) > 0.7, coverage  # every letter, most of its pixels
    assert (found & ~binary_dilation(letters, iterations=2)).sum() < 0.02 * letters.sum()


def test_a_crop_is_searched_for_letters_of_the_canvass_sizes() -> None:
    # A 1600 x 1200 canvas is searched on a copy of 0.6 MP; a crop of it (the photo the title lies on)
    # must be searched at that same scale, for letters of the canvas's sizes, not of the crop's.
    canvas, letters = with_title(busy_page((1600, 1200), seed=2), "HOLA AMIGOS")
    crop = (slice(20, 140), slice(20, 560))
    whole = text_lines(as_float(canvas)) > 0
    part = text_lines(as_float(canvas)[crop], canvas=(1200, 1600)) > 0
    assert letters[crop].sum() == letters.sum()  # the whole title lies in the crop
    count, labels = cv2.connectedComponents(letters[crop].astype(np.uint8))
    coverage = [part[labels == glyph].mean() for glyph in range(1, count)]
    assert count - 1 == 10 and min(coverage) > 0.5, coverage  # every letter (the search is at 0.56 ×)
    assert (part & whole[crop]).sum() >= 0.8 * whole.sum()  # about what the whole canvas's search finds
    assert not text_lines(as_float(canvas)[200:, 600:], canvas=(1200, 1600)).any()


def test_rows_of_windows_and_dots_are_not_text() -> None:
    image = Image.new("RGB", (480, 360), (40, 50, 90))
    draw = ImageDraw.Draw(image)
    for row in range(3):
        for column in range(8):
            x, y = 30 + 55 * column, 30 + 60 * row
            draw.rectangle([x, y, x + 30, y + 40], fill=(250, 220, 120))  # lit windows
            draw.ellipse([x, 250 + 30 * (row % 2), x + 28, 278 + 30 * (row % 2)], fill=(230, 90, 80))  # dots
    assert not text_lines(as_float(image)).any()


def test_a_plain_photo_has_no_text() -> None:
    coarse = np.random.default_rng(4).integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    photo = Image.fromarray(coarse, "RGB").resize((400, 300), Image.Resampling.BICUBIC)
    assert not text_lines(as_float(photo)).any()


def test_the_engine_lifts_an_outlined_title_off_a_busy_page_with_open_counters() -> None:
    page = busy_page((480, 360), seed=1)
    image, letters = with_title(page, "HOLA", stroke_width=3, stroke_fill=(30, 20, 60))
    ink = np.abs(np.asarray(image, int) - np.asarray(page, int)).max(-1) > 0
    stack = ClassicEngine().decompose(image, 4)
    _, *elements = stack.arrays()
    title = max(elements, key=lambda layer: (layer[..., 3][letters] == 255).mean())
    alpha = title[..., 3]
    assert stack.metadata["background"] == "textured"
    assert (alpha[letters] == 255).mean() > 0.95
    # The title's layer holds the title, not the page around it ...
    around = np.zeros_like(ink)
    rows, columns = np.nonzero(ink)
    around[rows.min() - 20 : rows.max() + 20, columns.min() - 20 : columns.max() + 20] = True
    assert (alpha[around & ~binary_dilation(ink, iterations=2)] > 0).sum() < 0.1 * letters.sum()
    # ... and the page shows through the counters of "O" and "A".
    counters = binary_fill_holes(letters) & ~binary_dilation(ink, iterations=1)
    assert counters.sum() > 100 and (alpha[counters] == 0).mean() > 0.95
    max_error, _ = reconstruction_error(stack.arrays(), np.asarray(image))
    assert max_error <= 1.0


def test_letter_graph_and_line_boxes_match_scipy() -> None:
    """The two small graph helpers against scipy's own (an independent implementation)."""
    from scipy.ndimage import find_objects
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(5)
    for _ in range(100):
        labels = rng.integers(0, 9, (30, 40)) * (rng.random((30, 40)) < 0.05)
        expected = {number: box for number, box in enumerate(find_objects(labels), start=1) if box}
        assert _label_boxes(labels) == expected
        nodes = int(rng.integers(1, 60))
        near = rng.random((nodes, nodes)) < 0.08 * rng.random()
        near |= near.T
        np.fill_diagonal(near, False)
        _, components = connected_components(csr_matrix(near), directed=False)
        np.testing.assert_array_equal(_components(near), components)
