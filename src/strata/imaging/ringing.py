"""Faint ringing around elements on a flat or gradient page: given to the element it surrounds.

A compressed image (JPEG) rings around every sharp edge: pixels up to a block away from a title or a
card's rim differ from the page by a few levels, below the foreground threshold. Left in the page,
they stay behind as a ghost outline when the element is moved or deleted. Each element layer takes
the faint pixels within :data:`REACH` of its own pixels, except in its holes (a letter's counter
shows the page wherever the letter goes), at the smallest alpha that explains them over the page
(:func:`~strata.imaging.alpha.min_alpha`); the background is then completed under them, and the
exactness pass solves their colour as it solves rims. A pixel that only a mostly opaque colour
explains (:data:`MAX_ALPHA`: a speck lighter than a near-white page) stays in the page: in the layer
it would show as a white fleck wherever the element is moved.
"""

from __future__ import annotations

import cv2
import numpy as np

from strata.imaging.alpha import min_alpha
from strata.imaging.compose import mask_box, shown
from strata.imaging.elements import fill_holes
from strata.imaging.fill import gather, max_diff

#: How far ringing reaches past an edge: a JPEG block (8 pixels), less the edge's own.
REACH = 7
#: A pixel rings when it is this far from the page (max channel): visible as a ghost, and beyond the
#: page model's own error on a lossless page.
FAINT = 4 / 255
#: Ringing that needs more opacity than this to be explained stays in the page.
MAX_ALPHA = 0.35


def take_ringing(
    layers: list[np.ndarray], image: np.ndarray, page: np.ndarray, valid: np.ndarray | None
) -> None:
    """Give each uint8 RGBA element layer (``layers``, back to front, disjoint) the faint pixels around
    it, in place. ``image`` is the float32 input, ``page`` the page model; ``valid`` the input's opaque
    pixels (None: all), the only ones an element may hold."""
    if not layers:
        return
    visible = [shown(layer) for layer in layers]
    free = np.ones(image.shape[:2], bool) if valid is None else valid.copy()
    for mask in visible:
        free &= ~mask
    faint = free & (max_diff(image, page) >= FAINT)
    kernel = np.ones((2 * REACH + 1, 2 * REACH + 1), np.uint8)
    # From the top down: the upper layer takes what two could.
    for layer, mask in zip(reversed(layers), reversed(visible), strict=True):
        box = mask_box(mask)
        if box is None:
            continue
        rows = slice(max(0, box[0].start - REACH), box[0].stop + REACH)
        columns = slice(max(0, box[1].start - REACH), box[1].stop + REACH)
        if not faint[rows, columns].any():
            continue
        # Not in its holes: a letter's counter shows the page, wherever the letter is moved.
        own = mask[rows, columns]
        near = cv2.dilate(own.view(np.uint8), kernel).astype(bool) & faint[rows, columns] & ~fill_holes(own)
        if not near.any():
            continue
        pixels, under = gather(image[rows, columns], near), gather(page[rows, columns], near)
        alpha = min_alpha(pixels, under)
        kept = alpha <= MAX_ALPHA
        # The opacity only: the exactness pass solves the colour of these top-most pixels.
        ys, xs = (axis[kept] for axis in np.nonzero(near))
        layer[rows, columns][ys, xs, 3] = np.clip(np.ceil(alpha[kept] * 255.0), 1, 255)
        faint[rows, columns][near] = False
