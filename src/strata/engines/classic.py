"""The ``classic`` engine: weights-free, CPU-only, deterministic layer decomposition for designs.

It peels a design the way it was built: a background model (flat, gradient, or textured), foreground
pixels grouped into words and objects, a recursive extraction of flat-fill elements (cards, buttons,
shapes, text runs) and complex elements (photos) with their occluded parts completed, a plan that
turns elements into exactly N layers, and an exactness pass so that the layers composite back to the
input. The numbered steps of :meth:`ClassicEngine.decompose` call one module each in
:mod:`strata.imaging` (``background``, ``peel``/``elements``/``fill``/``alpha``, ``merge``,
``exactness``).

Policies (what a user can rely on):

* **Layer count.** Exactly N layers, back to front. Layer 0 is the background, opaque wherever the input
  is opaque, with the areas under elements completed (the fitted flat or gradient fill, or inpainting on
  a textured background), never holes.
* **Element layers.** Layers 1..N−1 hold components: a top-level element with everything on it (a card
  with its photo, text and button; a text run on the page; a photo). Every element is completed where
  something hides it: a card under its text and photo (its fill continued), a card's corner under an
  overlapping circle (to its box), a circle under a photo that covers part of it (to its hull), a photo
  under a badge (inpainted). Up to N = 6 components stay whole unless layers are to spare (below);
  a solid shape lying mostly off the card it overlaps (a circle over its corner) is a layer of its own
  above the card at any N.
* **Nesting (N ≥ 7).** Large containers (a bottom element covering at least 5 % of the canvas: a card,
  a panel) are split from their contents, which go to layers above, when both fit in the N − 1
  layers. The container stays complete underneath, so moving or hiding the contents reveals the card,
  never a hole. Element layers share pixels only where a container's completed body lies under
  something split off above it (here, or with spare layers below), a card under the corner of a
  card of comparable size lying on it or of any shape lying mostly off it (a circle over its corner),
  a photo under a photo lying on it, a shape with nothing on it under a photo lying on it (a circle
  cut straight by the photo's side), or a photo that is a whole rectangle under a card lying on it
  (moving the card reveals the photo, inpainted there).
* **Backdrops.** An element covering most of the canvas (a photo over 40 %, a flat panel over 90 %)
  is the backdrop, not an element (on a flat or gradient page only a photo filling its rectangle: a
  cluster of cards and photos joined by the shadows between them is not the page): it stays in the
  background layer and what lies on it is separated.
* **Photo pages.** When no flat or gradient fill explains the page along the canvas edges, the page is a
  photo: elements are what differs from a smoothed page, plus what a sharp outline encloses (a card or
  a photo pasted on the photo, whose inside the smoothed page would otherwise keep; where the photo
  matches a flat card's colour for a stretch of its side, the side's straight run is continued
  through the gap, and a rectangle whose four sides are mostly steps of its own outline, with steps
  at each corner, is closed whole: :mod:`strata.imaging.rectangles`), plus text lines found by the
  shape of their letters (:mod:`strata.imaging.text`; a title on an illustration). Text is peeled
  against the photo itself, so its counters stay open; what is left of its outline or glow stays in
  the page.
* **More components than N − 1.** The closest layers are merged: text with text, shapes with shapes,
  neighbours with neighbours (box gap relative to the canvas diagonal, plus a penalty for mixing kinds),
  alike first (mean colour and log area), so a pattern's dots join each other before a character.
* **Text runs.** Words side by side on one line, in one ink and at most a word space apart (0.6 of the
  letters' height), are one text element with their marks (dots, accents, full stops;
  :func:`~strata.imaging.elements.join_words`): a title is one layer, not one per word; columns and
  menu items, further apart, stay apart. A letter cut off its word (compression can leave an "H" or an
  "l" apart, too few glyphs to be text) joins the line it sits on in its ink. A title laid across a
  card's edge, whose middle was peeled as the card's content, joins its words on the page into one
  run above the card, which stays complete under it.
* **Text on photos.** A title laid on a photo has no fill of its own against the page, so the peel
  takes it in with the photo. On every page, the photos lying on the page are searched for text lines
  by the shape of their letters (:func:`~strata.imaging.peel.peel_text_on_photos`); each line found
  is taken out of the photo, which is completed under it (inpainted) where it continues, and becomes a
  text element of its own above the photo, joined by the words of its line that run off the photo
  onto the page. Text on a card's photo stays in the photo, as the card's content.
* **Outlines.** A title's stroke outline in another colour, a card's border and a circle's outline are
  one element with what they outline, at any N: a ring whose pixels off an element lie within 6 pixels
  of it and around it joins it (:func:`~strata.imaging.elements.absorb_halos`).
* **Lettering.** A photo-like part drawn with strokes and no taller than a glyph (a title with a
  stroke outline in a JPEG, whose two colours and ringing pass no flat test) is a text element: its
  counters stay open where they show the page, its rim and the ringing scattered in and around its
  box are unmixed against the page at soft opacity (ringing lighter than a light page, which only an
  almost opaque white explains, stays in the page), and its words join into one run where their
  inks agree.
* **Soft shadows and glows.** On a flat or gradient page, a ramp of one colour fading smoothly into
  the page next to an element (a blurred drop shadow, a glow) is that element's: it goes into its
  layer, under it, as its colour at the ramp's opacity (:mod:`strata.imaging.shadow`), and the page is
  completed clean under it. The elements are peeled against the page as the shadows leave it, so their
  rims are unmixed against the shadow and a glow in a letter's counter leaves the counter open. A
  shadow reaches at most half its caster's short side and 5 % of the canvas diagonal from it (a panel
  fading into the page, holding text, is no shadow; the page's own shading beyond stays in the page),
  and slopes in the image where it shows (a flat card on a gradient page is no shadow, though its
  opacity over the page varies; nor is any flat region away from the page, nor a flat-topped letter
  lying on its own shadow). Shadows that run together are shared between their casters. Shadows
  fainter than the foreground tolerance and shadows on photo pages are not looked for; a hard shadow
  (no blur) is a flat shape like any other.
* **Overlaps and fringes.** A card over another card's corner is one element of its own fill: the
  corner, peeled as content of the card completed under it, rejoins it
  (:func:`~strata.imaging.elements.rejoin_pieces`). A smaller card under a larger one's corner is
  completed under it, and overlapping cards are stacked as the image shows them where they overlap
  (:func:`~strata.imaging.elements.stack_overlaps`), not larger-below.
  A photo-like region gives up each of its large flat shapes (up to four), not only the largest, where
  the photo steps sharply away from it (a dark, smooth area of the photo stays in the photo); each is
  peeled on its own, stacked under whatever bites into its outline. A photo that is a rectangle (80 % of
  its box, along half of each side) takes back the parts of its box that fade into the card under it
  (rounded corners excepted). Photos laid over each other (a collage) are one photo-like region; when
  it is the union of up to four rectangles along its outline, and where two overlap the upper one's
  side shows as a step across the lower one, it is those photos, stacked so, each completed under
  the ones above it (:mod:`~strata.imaging.collage`); a picture that is not a rectangle, with no
  such step inside it, stays one photo. A circle or an ellipse peeled beside a larger shape or
  photo that cuts it off lies under it and is completed there, to the ellipse its free outline fits,
  up to the larger element's rim (:mod:`~strata.imaging.ellipses`); a shape touching a card only
  along its rim (under 1 % of the shape's pixels on the card: the card covers its foot) is peeled
  beside the card, not as content lying on it. A fringe piece the unmixing cannot explain (at most
  0.02 % of the canvas) stays with the shape it touches, and a compression speck inside a letter's box
  or just outside it with the letter (:func:`~strata.imaging.elements.absorb_fragments`); a photo's few
  scattered leftover pixels stay in the page. A component of any size that wraps a larger element of
  another component (90 % of its pixels within 6 pixels of it, mostly off it: the
  ringing a JPEG leaves around a title, the slivers of a card's rim) joins that element and moves with
  it; one in the element's holes (ringing or noise in a letter's counter) is the page's and stays in the
  background layer (:func:`~strata.imaging.elements.absorb_halos`).
* **Compressed inputs.** A group whose pixels are nearly all within 0.1 of its fill or of the fill's
  mix with the page is flat even when JPEG ringing and chroma blur leave few pixels exactly on the
  fill: a title stays a text run, not a "photo" with a box of page colour. Where a group's most common
  colour is the page's own (the ringing around a small title outnumbers its letters' cores), the colour
  of its high-contrast pixels is tried as the fill instead; and where the most common colour is that
  of a photo or a shape lying on a light card (the noise spreads the card's pixels over more colours),
  the card's colour, carrying more of the group around it, is the fill. Along a flat part taken out
  of a photo-like group (a card over a photo's foot), the group's thin runs (under 5 pixels wide) and
  scattered pixels within 7 pixels of it are its ringing, not the photo's: they stay in the page.
  On a photo page, an element's outline that compression blurs over two pixels still counts as a
  sharp step, so a card or a photo pasted on the photo is still framed and lifted whole.
* **Fewer components than N − 1.** The layer with most parts is split (a part is a bottom element with
  what lies on it, e.g. a button with its label): by kind (shapes, photos, text), then its largest part
  apart. When no layer has two parts, spare layers go first to elements that only partly overlap the
  container they lie on (a circle over a card's corner: a sibling, not content), then to hero photos
  (a photo covering at least a quarter of its card); the card stays complete under both. Other splits
  (a small photo off its card, a card apart from its contents) wait for N ≥ 7, as they cost the match
  to designers' top-level groups. When nothing of that is left the remaining layers are fully
  transparent and sit at the top of the stack (named "empty 1", "empty 2", ...). A plain image with
  no elements is one background layer plus N − 1 empty layers.
* **Exactness.** The straight-alpha "over" composite of the returned 8-bit layers equals the input to
  within 1/255 per channel on every pixel (only 8-bit rounding remains).
* **Transparent inputs (RGBA).** Nothing is flattened: the layers reproduce the input's alpha too.
  Elements are only taken from fully opaque pixels; the background layer carries the input's alpha, so
  it is transparent where the input is, and partially transparent pixels (soft edges) stay in it.
* **Other modes.** Grayscale, palette, 16-bit and CMYK inputs are converted to RGB(A) and EXIF
  orientation applied by :func:`strata.imaging.decode.open_image` before decomposition.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from PIL import Image

from strata.engines.base import (
    Capabilities,
    Progress,
    ShouldCancel,
    check_request,
    never_cancel,
    no_progress,
)
from strata.errors import Cancelled
from strata.imaging.background import (
    TOL,
    Background,
    complete_background,
    estimate_background,
    inpaint,
    without_elements,
)
from strata.imaging.compose import shown
from strata.imaging.decode import open_image
from strata.imaging.elements import (
    Element,
    absorb_fragments,
    absorb_halos,
    framed,
    join_words,
    outlines,
    rejoin_pieces,
    stack_overlaps,
)
from strata.imaging.ellipses import complete_ellipses
from strata.imaging.exactness import make_exact
from strata.imaging.fill import max_diff, paste
from strata.imaging.merge import WHOLE, carriers, layer_name, make_disjoint, plan_layers, quantise, rasterise
from strata.imaging.peel import PeelContext, peel, peel_text_on_photos
from strata.imaging.ringing import take_ringing
from strata.imaging.shadow import attach_shadows, find_shadows, shade
from strata.imaging.text import on_page, one_per_line, rim_size, text_lines, without_halo
from strata.layers import LayerStack

#: Foreground threshold on a textured background, where the model is only a median filter.
TEXTURED_TOL = 0.12
#: Elements per image: one per this many pixels, within bounds. Past it a "design" is noise or a
#: screenshot, and what is left stays in the background layer (exact, just not separated).
PIXELS_PER_ELEMENT = 4000
ELEMENT_BOUNDS = (40, 400)
#: A top-level photo (shape) covering more than this fraction of the canvas is a backdrop, not an element.
BACKDROP_PHOTO = 0.4
BACKDROP_SHAPE = 0.9
#: On a photo page, an outline framing at least this fraction of the canvas outlines an element.
FRAMED_AREA = 0.003
#: A step between neighbouring pixels this large (max channel) is an element's outline on a photo page.
EDGE_STEP = 0.08
#: Grouping and outline kernels scale with the canvas's long side, taken as at most this many times
#: its short side: on a 4 × 100000 strip a kernel of 2 % of the long side would be 2001 pixels wide
#: and the dilation would run for hours.
MAX_ASPECT = 8


class ClassicEngine:
    """Element-level decomposition with numpy and OpenCV; see the module docstring for its policies."""

    name = "classic"
    capabilities = Capabilities(min_layers=2, max_layers=20, default_layers=4)

    def availability(self) -> tuple[bool, str]:
        return True, "built in: numpy + OpenCV on the CPU, no weights"

    def load(self) -> None:
        # The service runs several requests side by side on few cores; more threads only contend.
        cv2.setNumThreads(2)

    def check(self, layers: int, options: Mapping[str, Any] | None = None) -> None:
        check_request(self.capabilities, layers, options)

    def decompose(
        self,
        image: Image.Image,
        layers: int,
        options: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        should_cancel: ShouldCancel | None = None,
    ) -> LayerStack:
        self.check(layers, options)
        run = _Stages(progress or no_progress, should_cancel or never_cancel)
        self.load()

        # 1. Normalise the input to uint8 RGB(A); elements may only use fully opaque pixels.
        run.start(0.0, "input")
        target = np.asarray(open_image(image))
        valid = target[..., 3] == 255 if target.shape[-1] == 4 else None
        rgb = target[..., :3].astype(np.float32) / 255.0
        height, width = rgb.shape[:2]

        # 2. Background model: flat/gradient fill, or a median filter for textured backgrounds.
        run.start(0.1, "background")
        background = estimate_background(rgb, valid)

        # 3. Foreground: pixels away from the background model, grouped and peeled into elements;
        #    elements that fill most of the canvas are backdrops and join the background.
        run.start(0.2, "elements")
        elements, shadows = _find_elements(rgb, background, valid, run.should_cancel)
        elements = _absorb_backdrops(elements, background, height * width)
        elements = absorb_halos(join_words(absorb_fragments(rejoin_pieces(elements), height * width)))
        complete_ellipses(elements)
        stack_overlaps(elements, rgb)

        # 4. Plan exactly N − 1 element layers: components, then merges or splits.
        run.start(0.55, "merge")
        plan = plan_layers(elements, layers - 1, float(np.hypot(height, width)), height * width)
        attach_shadows(plan, shadows)

        # 5. Rasterise each planned layer ("over" of its elements, straight alpha, 8-bit); every pixel
        #    belongs to one element layer, except a container's body under contents split off above it.
        run.start(0.6, "rasterise")
        stack = [rasterise(group, height, width, valid) for group in plan]
        make_disjoint(stack, carriers(plan, height, width))
        if not background.textured:
            take_ringing(stack, rgb, background.colour, valid)

        # 6. Complete the background under everything the element layers cover.
        run.start(0.75, "complete background")
        covered = np.zeros((height, width), bool)
        for layer in stack:
            covered |= shown(layer)
        base = np.empty((height, width, 4), np.uint8)
        base[..., :3] = quantise(complete_background(rgb, background, covered))
        base[..., 3] = 255
        stack.insert(0, base)

        # 7. Exactness pass: the top-most layer of each pixel is solved so the composite is the input.
        run.start(0.85, "exactness")
        make_exact(stack, target)

        # 8. Clear the colour of transparent pixels (smaller files); name and describe the layers.
        run.start(0.95, "finish")
        for layer in stack[1:]:
            pixels = layer.view(np.uint32)[..., 0]  # RGBA as one word: one pass, not three strided ones
            np.multiply(pixels, shown(layer), out=pixels, casting="unsafe")
        counters: Counter[str] = Counter()
        names = ["background"] + [layer_name(group, counters) for group in plan]
        run.start(1.0, "done")
        metadata = _metadata(run, elements, plan, background.textured, valid is not None, height * width)
        return LayerStack.from_arrays(stack, names=names, metadata=metadata)


def _find_elements(
    rgb: np.ndarray, background: Background, valid: np.ndarray | None, should_cancel: ShouldCancel
) -> tuple[list[Element], list[Element]]:
    """Foreground mask against the background model, then the recursive peel (:mod:`~strata.imaging.peel`).

    On a flat or gradient page, soft shadows and glows (:mod:`~strata.imaging.shadow`) are taken out
    of the foreground first and returned apart, so that the peel sees the bodies that cast them. On a
    textured page, ``background.colour`` is replaced by the model made without the framed elements.
    """
    height, width = rgb.shape[:2]
    side = min(max(height, width), MAX_ASPECT * min(height, width))
    textured = background.textured
    tol = TEXTURED_TOL if textured else TOL
    kernel = max(3, round(0.01 * side)) | 1
    frames = np.zeros((height, width), bool)
    if textured:
        frames = framed(outlines(rgb, EDGE_STEP, 3 * kernel), kernel, round(FRAMED_AREA * height * width))
        if frames.any():
            # The page's model is made again without the elements framed by their outlines (and
            # their rims), which pulled it toward their colours: the photo beside them was foreground.
            rims = cv2.dilate(frames.astype(np.uint8), np.ones((kernel, kernel), np.uint8)).astype(bool)
            background.colour = without_elements(rgb, rims)
    contrast = max_diff(rgb, background.colour)
    foreground = (contrast > tol) | frames
    lines, found = np.zeros((height, width), np.int32), None
    if textured:
        found = text_lines(rgb)  # text on the photos as well as on the page (see peel_text_on_photos)
        lines = on_page(found, foreground)
        foreground = without_halo(foreground, lines > 0, kernel)
    if valid is not None:
        foreground &= valid
        lines *= valid
    min_area = max(6, round(height * width * 4e-6)) * (4 if textured else 1)
    shadows = [] if textured else find_shadows(rgb, background.colour, foreground, valid, min_area, contrast)
    page, foreground = shade(background.colour, foreground, shadows)
    ctx = PeelContext(
        image=rgb,
        tol=tol,
        min_area=min_area,
        max_groups=150,
        max_kernel=max(3, round(0.02 * side)),
        max_elements=int(np.clip(height * width / PIXELS_PER_ELEMENT, *ELEMENT_BOUNDS)),
        should_cancel=should_cancel,
    )
    if lines.any():
        # Text lies on the photo itself, not on its smoothed model: the letters' counters show the
        # photo and stay open, and their rims are unmixed against the photo continued under them.
        # Found on a smaller copy, the letters may miss part of a pixel of that copy along their rims.
        grow = rim_size(height, width)
        text = cv2.dilate((lines > 0).astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)
        if valid is not None:
            text &= valid
        first = len(ctx.elements)
        peel(ctx, text, inpaint(rgb, text))
        ctx.elements[first:] = one_per_line(ctx.elements[first:], lines, ctx.roots)
        ctx.roots += int(lines.max())
    peel(ctx, foreground, page)
    peel_text_on_photos(ctx, page, BACKDROP_PHOTO, found)
    return ctx.elements, shadows


def _absorb_backdrops(elements: list[Element], background: Background, pixels: int) -> list[Element]:
    """Elements covering most of the canvas are backdrops: they stay in the background.

    Applied from the page upwards: once a backdrop is absorbed, what lies on it counts as top-level
    (and each such element becomes its own component). A flat backdrop (a panel) becomes part of the
    background model, so what lies on it is completed with its fill; a photo backdrop makes the
    background "textured" (completed by inpainting).
    """
    floor: dict[int, int] = {}  # root -> depth of its top-level elements
    keep: list[Element] = []
    for element in sorted(elements, key=lambda e: e.depth):
        limit = BACKDROP_PHOTO if element.kind == "photo" else BACKDROP_SHAPE
        rectangle = element.kind != "photo" or background.textured or _whole(element)
        if element.depth != floor.get(element.root, 1) or element.area <= limit * pixels or not rectangle:
            keep.append(element)
            continue
        floor[element.root] = element.depth + 1
        if element.kind == "photo":
            background.textured = True
            continue
        top, left, bottom, right = element.box
        inside = element.alpha > 0.5
        paste(background.colour[top:bottom, left:right], element.colour, inside)
    _reroot(keep, floor)
    return keep


def _whole(element: Element) -> bool:
    """Whether a photo fills its box (:data:`~strata.imaging.merge.WHOLE`): on a flat or gradient
    page only such a photo is a backdrop, not a cluster of cards, photos and the shadows between them
    that passed no flat test."""
    return element.area >= WHOLE * element.alpha.size


def _reroot(elements: list[Element], floor: dict[int, int]) -> None:
    """Elements on an absorbed backdrop: each top-level one starts a component of its own."""
    next_root = max((e.root for e in elements), default=0) + 1
    for root, depth in floor.items():
        heads = [e for e in elements if e.root == root and e.depth == depth]
        for head in heads:
            head.root, next_root = next_root, next_root + 1
        for element in elements:
            if element.root == root and element.depth > depth and heads:
                element.root = _container(element, heads).root


def _container(element: Element, heads: list[Element]) -> Element:
    """The head whose box contains the element's centre, else the nearest head."""
    top, left, bottom, right = element.box
    cy, cx = (top + bottom) / 2, (left + right) / 2

    def distance(head: Element) -> float:
        t, lf, b, r = head.box
        return max(t - cy, 0, cy - b) + max(lf - cx, 0, cx - r) - head.area * 1e-12

    return min(heads, key=distance)


def _metadata(
    run: _Stages, elements: list[Element], plan: list[list[Element]], textured: bool, rgba: bool, pixels: int
) -> dict[str, Any]:
    total = sum(run.timings.values())
    return {
        "engine": "classic",
        "timings": {stage: round(seconds, 4) for stage, seconds in run.timings.items()},
        "seconds": round(total, 4),
        "seconds_per_megapixel": round(total / max(pixels / 1e6, 1e-9), 4),
        "elements": len(elements),
        "element_kinds": dict(Counter(e.kind for e in elements)),
        "background": "textured" if textured else "fill",
        "empty_layers": sum(1 for group in plan if not group),
        "alpha_policy": "input alpha kept in the background layer" if rgba else "opaque input",
    }


class _Stages:
    """Progress reports, cancellation checks and per-stage timings, between the numbered steps."""

    def __init__(self, progress: Progress, should_cancel: ShouldCancel) -> None:
        self.progress, self.should_cancel = progress, should_cancel
        self.timings: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()

    def start(self, fraction: float, stage: str) -> None:
        now = time.perf_counter()
        if self._stage is not None:
            self.timings[self._stage] = now - self._since
        self._stage, self._since = stage, now
        if self.should_cancel():
            raise Cancelled("the decomposition was cancelled")
        self.progress(fraction, stage)
