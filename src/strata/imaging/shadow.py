"""Soft shadows and glows: the blurred drop shadow under a card, the glow around a title.

On a flat or gradient page, a soft shadow is the page darkened towards one colour (black, or a dark
tint) by an opacity that falls smoothly to nothing away from the element casting it; a glow is the
same towards a light colour. Left to the peel, its dark core would be cut into opaque strips stacked
on the card and its faint tail would stay in the page, a ghost of the card once the card is moved.

:func:`find_shadows` finds such ramps before the peel, which then sees only the elements' bodies;
:func:`attach_shadows` puts each one into the layer of the element it touches, under that element,
as the shadow's colour at the ramp's opacity, so the shadow moves with its element and the page
under it is completed clean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from strata.imaging.alpha import min_alpha, projection_alpha, unblend
from strata.imaging.elements import Box, Element, box_inside, contact, crops
from strata.imaging.fill import channel_max, gather, max_diff

#: A shadow's opacity changes by at most this much from one pixel to the next (a blur of about
#: 3 pixels or more); an element's anti-aliased rim changes faster.
SLOPE = 0.08
#: Below this opacity the page is left as it is (half an 8-bit level is invisible).
FAINT = 1.5 / 255
#: A shadow is a ramp: at least this share of its visible pixels (away from the page) lie between
#: 15 % and 85 % of its peak opacity (a flat shape with a soft rim has most of its pixels on its plateau).
RAMP = 0.4
#: It fades into the page along at least this share of its outline (the rest meets its element).
FADES = 0.25
#: Its pixels unmix to one colour: this share within COLOUR_TOL (max channel) of their median.
COLOUR_SHARE, COLOUR_TOL = 0.8, 0.1
#: It lies within this fraction of its element's short side of the element, within MIN_REACH pixels
#: at least and within MAX_REACH of the canvas diagonal at most: a gradient panel that fades into
#: the page holds text, and the page's own shading (a vignette) spreads far; neither is a shadow.
REACH, MIN_REACH, MAX_REACH = 0.5, 6, 0.05
#: Where it shows, at least half its pixels are on a slope of the image of at least this much per
#: pixel (max channel, measured over 5 pixels): a flat card on a gradient page is flat in the image,
#: though its opacity over the page varies with the page.
STEEP = 0.0015
#: Opacities used to judge a pixel's unmixed colour: fainter ones are mostly quantisation noise.
SOLID = 0.1
#: A ridge: pixels this much more opaque than a grey opening of RIDGE_SIDE pixels leaves them. It is
#: a letter's where its top is flat (opacity steps of at most FLAT_TOP between neighbours) within 2
#: pixels of a step of more than SHARP (a shadow's steepest, blurred by 2 pixels at an opacity of
#: 0.6, is about 0.12).
RIDGE, RIDGE_SIDE, SHARP, FLAT_TOP = 0.1, 9, 0.2, 0.006
#: A shadow touching elements of several layers is shared among those it touches along at least
#: this share of the pixels of the one it touches most.
SHARED = 0.25
#: A piece of a shadow is at most this much more opaque than the shadow's most opaque pixel.
PEAK_TOL = 0.05
#: An element's body: this far from the page at least (max channel; the page model may be a level
#: off), where the image, smoothed over 5 pixels, varies by at most BODY_SPREAD over a square of
#: BODY_SIDE pixels (compression noise included). A shadow's opacity changes wherever it shows.
BODY, BODY_SPREAD, BODY_SIDE = 4 / 255, 3 / 255, 9


def find_shadows(
    image: np.ndarray,
    page: np.ndarray,
    foreground: np.ndarray,
    valid: np.ndarray | None,
    min_area: int,
    contrast: np.ndarray | None = None,
) -> list[Element]:
    """Soft shadows and glows on the page, each next to the foreground that casts it.

    ``image`` and ``page`` are float32 (H, W, 3); ``foreground`` marks the pixels away from the page
    (a ramp holding fewer than ``min_area`` of them is too faint to matter); ``valid``, if given,
    the opaque pixels of the input, where alone shadows are looked for. Each shadow is an element
    of one colour at the ramp's opacity; its kind, depth and root are its caster's, set when attached.
    A piece of a shadow cut off by its caster (a glow in a letter's counter) need not fade into the
    page: it is taken when it unmixes to the colour of a shadow that does, no more opaque than that
    shadow (a dark letter lying on a dark shadow unmixes to about its colour, at a higher opacity).
    ``contrast`` is ``max_diff(image, page)`` where the caller has it already.
    """
    if contrast is None:
        contrast = max_diff(image, page)
    alpha = min_alpha(image, page)
    smoothed = cv2.blur(image, (5, 5))
    # A flat card only a little darker than the page is smooth too: left in, it would join its own
    # shadow (and, on a gradient page, the page's banding) into one component of no one colour.
    # A letter lying on its own shadow unmixes to about the shadow's colour: it is a ridge above it.
    steps = _steps(alpha)
    smooth = (steps <= SLOPE) & ~_bodies(smoothed, contrast)
    below = image <= page + FAINT
    darker = below[..., 0] & below[..., 1] & below[..., 2]
    ridges = _ridges(alpha, steps)
    ramps: list[_Candidate] = []
    pieces: list[tuple[Box, tuple[np.ndarray, int], np.ndarray, _Candidate | None]] = []
    for direction in (darker & ~ridges, ~darker):
        candidates = (alpha > FAINT) & smooth & direction
        if valid is not None:
            candidates &= valid
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            candidates.astype(np.uint8), connectivity=8
        )
        for label, ramp in _shown(alpha, labels, count, foreground, min_area):
            left, top, width, height = (int(v) for v in stats[label, :4])
            box = _grown((top, left, top + height, left + width), alpha.shape, 2)
            found = None
            if ramp:
                found = _candidate(image, page, alpha, smoothed, (labels, label), direction, foreground, box)
            if found is not None and found.ramp:
                ramps.append(found)
            else:
                pieces.append((box, (labels, label), direction, found))
    shadows = [cast for c in ramps if (cast := _cast(c, foreground)) is not None]
    for box, labelled, direction, piece in pieces:
        if not any(box_inside(box, shadow.box) for shadow in shadows):
            continue  # only pieces cut off by a caster, inside its shadow's box, are looked at
        piece = piece or _candidate(image, page, alpha, smoothed, labelled, direction, foreground, box)
        if (
            piece is not None
            and any(_same_shadow(piece, shadow) for shadow in shadows)
            and (cast := _cast(piece, foreground)) is not None
        ):
            shadows.append(cast)
    return [_element(c, image, page, alpha) for c in shadows]


def _same_shadow(piece: _Candidate, shadow: _Candidate) -> bool:
    """Whether ``piece`` unmixes to ``shadow``'s colour, no more opaque than it."""
    return bool(
        np.abs(piece.colour - shadow.colour).max() <= COLOUR_TOL and piece.peak <= shadow.peak + PEAK_TOL
    )


def _shown(
    alpha: np.ndarray, labels: np.ndarray, count: int, foreground: np.ndarray, min_area: int
) -> list[tuple[int, bool]]:
    """The components holding at least ``min_area`` foreground pixels, and whether what shows of each
    is a ramp (:data:`RAMP`); counted for all components at once, as a page of flat shapes has thousands."""
    shown = labels[foreground]
    held = np.bincount(shown, minlength=count)
    held[0] = 0
    peak = np.zeros(count, np.float32)
    np.maximum.at(peak, shown, alpha[foreground])
    level = alpha[foreground] / np.maximum(peak[shown], 1e-6)
    on_ramp = np.bincount(shown, weights=(level > 0.15) & (level < 0.85), minlength=count)
    return [(int(k), bool(on_ramp[k] >= RAMP * held[k])) for k in np.flatnonzero(held >= min_area)]


def shade(page: np.ndarray, foreground: np.ndarray, shadows: list[Element]) -> tuple[np.ndarray, np.ndarray]:
    """The page as the shadows leave it and the foreground without them: what the peel works on.

    Elements are then unmixed against the shaded page, and a glow showing in a letter's counter is
    the page there, so the counter stays open.
    """
    page, foreground = page.copy(), foreground.copy()
    for shadow in shadows:
        top, left, bottom, right = shadow.box
        a = shadow.alpha[..., None]
        page[top:bottom, left:right] = shadow.colour * a + page[top:bottom, left:right] * (1 - a)
        foreground[top:bottom, left:right] &= shadow.alpha == 0
    return page, foreground


def attach_shadows(plan: list[list[Element]], shadows: list[Element]) -> None:
    """Insert each shadow into the planned layer of the element it touches most, just under it.

    Where it touches elements of other layers nearly as much (:data:`SHARED`: a card's shadow and a
    title's run together), it is shared out: each of its pixels goes with the nearest of them. A
    shadow that touches no element (its caster was left in the page) stays out of every layer: the
    page keeps it.
    """
    for shadow in shadows:
        ring = cv2.dilate(shadow.alpha, np.ones((5, 5), np.uint8)) > 0
        owners: dict[int, tuple[int, int]] = {}  # layer -> (pixels touched, its element touching most)
        for index, layer in enumerate(plan):
            for position, element in enumerate(layer):
                touching = contact(ring, shadow.top, shadow.left, element)
                if touching > owners.get(index, (0, 0))[0]:
                    owners[index] = (touching, position)
        most = max((touching for touching, _ in owners.values()), default=0)
        casters = {index: at for index, (touching, at) in owners.items() if touching >= SHARED * most}
        for index, part in zip(casters, _shared(shadow, [plan[i] for i in casters]), strict=True):
            owner = plan[index][casters[index]]
            plan[index].insert(
                casters[index], replace(part, depth=owner.depth, kind=owner.kind, root=owner.root)
            )


def _shared(shadow: Element, layers: list[list[Element]]) -> list[Element]:
    """``shadow`` split among ``layers``: each pixel goes with the nearest layer's elements."""
    if len(layers) <= 1:
        return [shadow] * len(layers)
    distances = []
    for layer in layers:
        mine = np.zeros(shadow.alpha.shape, np.uint8)
        for element in layer:
            if (meet := crops(shadow.box, element.box)) is not None:
                mine[meet[0]] |= element.alpha[meet[1]] > 0
        distances.append(cv2.distanceTransform(1 - mine, cv2.DIST_L2, 3))
    nearest = np.argmin(distances, axis=0)
    return [replace(shadow, alpha=shadow.alpha * (nearest == k)) for k in range(len(layers))]


def _steps(alpha: np.ndarray) -> np.ndarray:
    """Each pixel's largest difference of opacity with a 4-neighbour."""
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    return np.maximum(cv2.dilate(alpha, cross) - alpha, alpha - cv2.erode(alpha, cross))


def _slope(smoothed: np.ndarray) -> np.ndarray:
    """The image's slope per pixel (max channel), ``smoothed`` over 5 pixels."""
    dx, dy = cv2.Sobel(smoothed, -1, 1, 0, ksize=1), cv2.Sobel(smoothed, -1, 0, 1, ksize=1)
    return channel_max(np.hypot(dx, dy)) / 2  # the kernel is (-1, 0, 1): twice the difference per pixel


def _bodies(smoothed: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """Flat regions away from the page (``contrast`` at least :data:`BODY`) in the image ``smoothed``
    over 5 pixels: elements' bodies, not ramps, out to their outline (a square of the body reaches
    that far inside it)."""
    square = np.ones((BODY_SIDE, BODY_SIDE), np.uint8)
    spread = channel_max(cv2.dilate(smoothed, square) - cv2.erode(smoothed, square))
    flat = ((spread <= BODY_SPREAD) & (contrast >= BODY)).astype(np.uint8)
    return cv2.dilate(flat, np.ones((BODY_SIDE + 6, BODY_SIDE + 6), np.uint8)).astype(bool)


def _ridges(alpha: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Thin flat-topped structures more opaque than what lies around them, near a sharp step of
    opacity (the inside of a letter lying on its own shadow), with their rims. A grey opening wider
    than a stroke leaves a broad shadow as it is; the blurred copy of a title that is its shadow, or a
    glow, is a ridge too, but soft: no flat top within a stroke of a sharp step."""
    kernel = np.ones((RIDGE_SIDE, RIDGE_SIDE), np.uint8)
    ridges = alpha - cv2.morphologyEx(alpha, cv2.MORPH_OPEN, kernel) > RIDGE
    sharp = cv2.dilate((steps > SHARP).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    cores = (ridges & sharp & (steps <= FLAT_TOP)).astype(np.uint8)
    return cv2.dilate(cores, np.ones((5, 5), np.uint8)).astype(bool)


def _grown(box: Box, shape: tuple[int, ...], pad: int) -> Box:
    top, left, bottom, right = box
    return max(top - pad, 0), max(left - pad, 0), min(bottom + pad, shape[0]), min(right + pad, shape[1])


@dataclass
class _Candidate:
    """A smooth component unmixing to one ``colour`` (a mask of ``box``) at most ``peak`` opaque, and
    whether it is a ramp sloping in the image and fading into the page."""

    mask: np.ndarray
    colour: np.ndarray
    peak: float
    ramp: bool
    box: Box

    @property
    def crop(self) -> tuple[slice, slice]:
        return slice(self.box[0], self.box[2]), slice(self.box[1], self.box[3])


def _candidate(
    image: np.ndarray,
    page: np.ndarray,
    alpha: np.ndarray,
    smoothed: np.ndarray,
    labelled: tuple[np.ndarray, int],
    direction: np.ndarray,
    foreground: np.ndarray,
    box: Box,
) -> _Candidate | None:
    """A smooth component (``labels == label``) as a candidate shadow in ``box``, or None: it is not of
    one colour. It is a ramp (a whole shadow, not a piece) if it slopes in the image where it shows
    and fades into the page."""
    crop = (slice(box[0], box[2]), slice(box[1], box[3]))
    image, page, alpha = image[crop], page[crop], alpha[crop]
    labels, label = labelled
    component, direction, foreground = labels[crop] == label, direction[crop], foreground[crop]
    colours = unblend(image, page, alpha)
    solid = component & (alpha >= SOLID)
    if not solid.any():
        return None
    colour = np.median(gather(colours, solid), axis=0)
    same = max_diff(colours, colour) <= COLOUR_TOL
    if same[solid].mean() < COLOUR_SHARE:
        return None
    ring = cv2.dilate(component.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~component
    steep = float(np.median(_slope(smoothed[crop])[component & foreground])) >= STEEP
    fades = (alpha[ring] <= FAINT).mean() >= FADES
    # Next to its caster the ramp is too steep to be smooth (the caster's rim shades it): those
    # pixels are the shadow's too where they unmix to its colour.
    near = cv2.dilate(component.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    mask = component | (near & direction & (alpha > FAINT) & (same | (alpha < SOLID)))
    return _Candidate(mask, colour, float(alpha[mask].max(initial=0.0)), steep and fades, box)


def _element(candidate: _Candidate, image: np.ndarray, page: np.ndarray, alpha: np.ndarray) -> Element:
    """The shadow as an element: its colour at the opacity that explains each pixel over the page."""
    top, left, bottom, right = candidate.box
    crop = candidate.crop
    fill = np.broadcast_to(candidate.colour.astype(np.float32), (bottom - top, right - left, 3))
    mask = candidate.mask
    shadow = (projection_alpha(image[crop], page[crop], fill) * mask).astype(np.float32)
    # It goes on under its caster's rim, which the caster's own unmixing against the page leaves
    # partly uncovered: a ghost of the rim would stay in the page.
    rim = (
        cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        & ~mask
        & (alpha[crop] > FAINT)
    )
    shadow[rim] = cv2.dilate(shadow, np.ones((5, 5), np.uint8))[rim]
    return Element(top, left, shadow, fill.copy(), 1, "shape", 0)


def _cast(candidate: _Candidate, foreground: np.ndarray) -> _Candidate | None:
    """The candidate within reach of the foreground touching it, which casts it; None when what shows
    of it lies further (or nothing touches it).

    Reach is :data:`REACH` of the caster's short side, so a panel fading into the page is not the
    shadow of the text it holds. The caster is looked for within the shadow's size around it. The
    faint tail beyond reach is the page's own shading, not the shadow's.
    """
    top, left, bottom, right = candidate.box
    outer = _grown(candidate.box, foreground.shape, max(bottom - top, right - left))
    inner = (slice(top - outer[0], bottom - outer[0]), slice(left - outer[1], right - outer[1]))
    rest = foreground[outer[0] : outer[2], outer[1] : outer[3]].copy()
    rest[inner] &= ~candidate.mask
    _, labels, stats, _ = cv2.connectedComponentsWithStats(rest.astype(np.uint8), connectivity=8)
    near = cv2.dilate(candidate.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    touched = np.unique(labels[inner][near])
    touched = touched[touched > 0]
    if not touched.size:
        return None
    short = int(np.minimum(stats[touched, cv2.CC_STAT_WIDTH], stats[touched, cv2.CC_STAT_HEIGHT]).max())
    caster = np.isin(labels[inner], touched)
    within = cv2.distanceTransform((~caster).astype(np.uint8), cv2.DIST_L2, 3) <= max(
        MIN_REACH, min(REACH * short, MAX_REACH * float(np.hypot(*foreground.shape)))
    )
    visible = candidate.mask & foreground[top:bottom, left:right]
    if within[visible].mean() < 0.9:
        return None
    return replace(candidate, mask=candidate.mask & within)
