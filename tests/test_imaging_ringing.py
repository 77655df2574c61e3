"""Faint ringing around an element goes with the element, not into the page (no ghost when it moves)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from strata.engines import classic
from strata.engines.classic import ClassicEngine
from strata.imaging.compose import over_uint8, reconstruction_error
from strata.imaging.exactness import make_exact
from strata.imaging.ringing import REACH, take_ringing

PAGE = np.array([150, 170, 190], np.uint8)


def _layers(image: np.ndarray, square: tuple[slice, slice]) -> list[np.ndarray]:
    """One element layer: the opaque square of ``image``."""
    layer = np.zeros((*image.shape[:2], 4), np.uint8)
    layer[square] = np.dstack([image[square], np.full(image[square].shape[:2], 255, np.uint8)])
    return [layer]


def test_faint_pixels_near_an_element_join_it_at_soft_opacity() -> None:
    image = np.broadcast_to(PAGE, (60, 80, 3)).copy()
    square = (slice(20, 40), slice(30, 50))
    image[square] = (20, 30, 40)
    image[18, 35] = PAGE - 6  # ringing just above the square: darker
    image[42, 45] = PAGE + 5  # and lighter below it
    image[20 + 20 + REACH + 3, 40] = PAGE - 6  # beyond the reach: the page's own
    image[5, 5] = PAGE - 2  # too faint to matter anywhere
    layers = _layers(image, square)
    rgb = image.astype(np.float32) / 255.0
    page = np.broadcast_to(PAGE.astype(np.float32) / 255.0, rgb.shape)
    take_ringing(layers, rgb, page, valid=None)
    alpha = layers[0][..., 3]
    assert 0 < alpha[18, 35] < 64 and 0 < alpha[42, 45] < 64
    assert alpha[20 + 20 + REACH + 3, 40] == 0 and alpha[5, 5] == 0
    assert (alpha[square] == 255).all()
    # Over the clean page, once the exactness pass has solved their colour (as the engine runs it),
    # the element's layer gives the input back (to 8-bit rounding).
    background = np.dstack(
        [np.broadcast_to(PAGE, image.shape).copy(), np.full(image.shape[:2], 255, np.uint8)]
    )
    make_exact([background, *layers], image)
    composite = over_uint8([background, *layers])[..., :3].astype(int)
    taken = alpha > 0
    assert np.abs(composite[taken] - image[taken]).max() <= 1


def test_a_speck_only_an_opaque_colour_explains_stays_in_the_page() -> None:
    page = np.array([250, 250, 250], np.uint8)
    image = np.broadcast_to(page, (40, 40, 3)).copy()
    square = (slice(10, 20), slice(10, 20))
    image[square] = (10, 10, 10)
    image[22, 15] = (255, 255, 255)  # lighter than a near-white page: only an opaque white explains it
    layers = _layers(image, square)
    rgb = image.astype(np.float32) / 255.0
    take_ringing(layers, rgb, np.broadcast_to(page / 255.0, rgb.shape).astype(np.float32), None)
    assert layers[0][22, 15, 3] == 0


def test_a_jpeg_title_leaves_a_cleaner_page(monkeypatch) -> None:
    """End to end: the background layer is nearly the page colour around the title, where the JPEG's
    ringing used to stay behind as an outline of it (compared with the same run without the step)."""
    drawn = Image.new("RGB", (420, 160), tuple(int(v) for v in PAGE))
    ImageDraw.Draw(drawn).text((30, 50), "Ringing", font=ImageFont.load_default(64), fill=(40, 20, 30))
    buffer = io.BytesIO()
    drawn.save(buffer, "JPEG", quality=70)

    def ghost() -> int:
        stack = ClassicEngine().decompose(Image.open(buffer), 4)
        assert stack.names[:2] == ["background", "text 1"]
        assert reconstruction_error(stack.arrays(), np.asarray(Image.open(buffer).convert("RGB")))[0] <= 1
        off = np.abs(np.asarray(stack.layers[0])[..., :3].astype(int) - PAGE).max(axis=-1)
        return int((off > 4).sum())

    cleaned = ghost()
    monkeypatch.setattr(classic, "take_ringing", lambda *args: None)
    left = ghost()
    assert left > 1000 and cleaned <= left / 3, (cleaned, left)
