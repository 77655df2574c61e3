"""Held-out quality check: seeded synthetic graphic designs with exactly known layers.

The real designs in ../shared/data/designs are few and quirky, and the classic engine was tuned on them.
This generator draws flat graphic designs (posters, cards, banners) from a seed: a background (flat,
gradient or smooth "photo"), then 2-5 top-level elements: cards holding text lines, a button and a photo
thumbnail; free title text; flat shapes (sometimes overlapping a card's corner); photos. Every primitive
is a straight-alpha uint8 layer, anti-aliased, so the ground truth is exact:

* ``leaf``: every primitive (card, text line, button, label, photo, shape) back to front;
* ``group``: every top-level element with its children composited into one layer.

Children sit inside their parent's opaque interior, so both granularities composite to the same image.
benchmarks/synthetic_quality.py scores the classic engine and the k-means baseline on them.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from strata.evaluation.groundtruth import GroundTruth
from strata.evaluation.layer import Layer, over

#: Shapes are drawn at this multiple of the canvas resolution and box-filtered down (anti-aliasing).
SUPERSAMPLE = 4
TITLES = (
    "Summer Sale", "Grand Opening", "New Collection", "Fresh Picks", "Weekend Market", "Design Week",
    "Open House", "Big Savings", "Hello Autumn", "Join Us", "Live Music", "Book Fair", "Coffee Club",
)  # fmt: skip
BODY = (
    "Up to 50% off everything", "Free shipping on all orders", "Saturday 10am - 6pm",
    "Limited time only", "Visit us downtown", "Tickets on sale now", "Members get early access",
    "Handmade with care", "Since 1998", "Call 555-0199", "All ages welcome", "Seats are limited",
)  # fmt: skip
BUTTONS = ("Shop now", "Learn more", "Sign up", "Book now", "Get tickets", "Join", "RSVP")


@dataclass
class Primitive:
    """One leaf layer: a uint8 straight-alpha RGBA crop placed at (top, left)."""

    name: str
    rgba: np.ndarray
    top: int
    left: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.top, self.left, self.top + self.rgba.shape[0], self.left + self.rgba.shape[1])


@dataclass
class Canvas:
    """The design being drawn: its primitives per top-level element and a running float composite."""

    rng: np.random.Generator
    height: int
    width: int
    hue: float
    elements: list[tuple[str, list[Primitive]]] = field(default_factory=list)
    composite: np.ndarray | None = None
    used: set[str] = field(default_factory=set)  # texts already on the design, not repeated
    cards: int = 1  # how many cards share the page (narrower cards when two must fit)

    def add(self, element: str, parts: list[Primitive]) -> None:
        """Append a top-level element (its parts back to front) and paint it onto the composite."""
        self.paint(parts)
        self.elements.append((element, parts))

    def paint(self, parts: list[Primitive]) -> None:
        """Paint ``parts`` onto the composite, so that later text can pick a colour that reads on it."""
        if self.composite is None:
            self.composite = np.zeros((self.height, self.width, 3), np.float32)
        for part in parts:
            top, left, bottom, right = part.box
            rgba = part.rgba.astype(np.float32) / 255.0
            alpha = rgba[..., 3:]
            below = self.composite[top:bottom, left:right]
            below[...] = rgba[..., :3] * alpha + below * (1.0 - alpha)

    def mean_colour(self, box: tuple[int, int, int, int]) -> np.ndarray:
        top, left, bottom, right = box
        return self.composite[top:bottom, left:right].reshape(-1, 3).mean(0)


# --- colours and pixels -------------------------------------------------------------------------------


def colour(hue: float, saturation: float, value: float) -> np.ndarray:
    """An RGB colour in [0, 1] from HSV (hue wraps)."""
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), np.float32)


def contrasting(canvas: Canvas, under: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """A text colour that reads on ``under``: near-black/white, tinted with the design's hue."""
    rng = rng or canvas.rng
    luminance = float(under @ np.array([0.299, 0.587, 0.114], np.float32))
    tint = canvas.hue + rng.uniform(-0.1, 0.1)
    if luminance > 0.55:
        return colour(tint, rng.uniform(0.3, 0.8), rng.uniform(0.1, 0.3))
    return colour(tint, rng.uniform(0.0, 0.15), rng.uniform(0.92, 1.0))


def solid(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A uint8 RGBA crop of one colour with the given uint8 alpha mask."""
    rgba = np.empty((*alpha.shape, 4), np.uint8)
    rgba[..., :3] = np.rint(rgb * 255.0).astype(np.uint8)
    rgba[..., 3] = alpha
    return rgba


def photo_pixels(rng: np.random.Generator, height: int, width: int, hue: float) -> np.ndarray:
    """A smooth "photo": light sky to dark ground, low-resolution colour noise upscaled bicubically,
    plus mild fine grain."""
    cells = rng.integers(3, 7, size=2)
    sky = colour(hue + rng.uniform(-0.15, 0.15), rng.uniform(0.2, 0.6), rng.uniform(0.7, 0.95))
    ground = colour(hue + rng.uniform(0.1, 0.4), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.6))
    rows = np.linspace(0.0, 1.0, cells[0], dtype=np.float32)[:, None, None]
    base = sky * (1 - rows) + ground * rows
    coarse = np.clip(base + rng.normal(0, 0.12, (cells[0], cells[1], 3)), 0, 1)
    small = Image.fromarray(np.rint(coarse * 255).astype(np.uint8), "RGB")
    smooth = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), np.float32)
    grain = rng.normal(0, 3.0, (height, width, 1))
    return np.clip(np.rint(smooth + grain), 0, 255).astype(np.uint8)


def shape_mask(kind: str, height: int, width: int, radius: float = 0.0) -> np.ndarray:
    """Anti-aliased uint8 alpha of a shape filling a (height, width) box."""
    big = Image.new("L", (width * SUPERSAMPLE, height * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(big)
    corners = (0, 0, width * SUPERSAMPLE - 1, height * SUPERSAMPLE - 1)
    if kind == "ellipse":
        draw.ellipse(corners, fill=255)
    else:
        draw.rounded_rectangle(corners, radius=int(radius * SUPERSAMPLE), fill=255)
    return np.asarray(big.reduce(SUPERSAMPLE))


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled FreeType font (no system fonts needed) at ``size`` px."""
    return ImageFont.load_default(size=size)


def text_mask(text: str, size: int) -> np.ndarray:
    """Anti-aliased uint8 alpha of one line of text, trimmed to its ink."""
    left, top, right, bottom = font(size).getbbox(text)
    image = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(image).text((1 - left, 1 - top), text, font=font(size), fill=255)
    return np.asarray(image)


def fitted_text(
    canvas: Canvas, choices: tuple[str, ...], size: int, width: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, str]:
    """A line from ``choices`` not used yet, at ``size`` px, shrunk until it is at most ``width`` wide."""
    fresh = [text for text in choices if text not in canvas.used] or list(choices)
    text = fresh[(rng or canvas.rng).integers(len(fresh))]
    canvas.used.add(text)
    mask = text_mask(text, size)
    while mask.shape[1] > width and size > 10:
        size = int(size * 0.85)
        mask = text_mask(text, size)
    return mask, text


# --- elements -------------------------------------------------------------------------------------------


def background(canvas: Canvas) -> None:
    """Layer 0: a flat colour, a linear gradient or a smooth photo, opaque."""
    rng, height, width = canvas.rng, canvas.height, canvas.width
    kind = ("flat", "gradient", "photo")[rng.integers(3)]
    if kind == "photo":
        rgb = photo_pixels(rng, height, width, canvas.hue)
    else:
        first = colour(canvas.hue, rng.uniform(0.05, 0.6), rng.uniform(0.3, 1.0))
        second = colour(canvas.hue + rng.uniform(-0.2, 0.2), rng.uniform(0.05, 0.7), rng.uniform(0.2, 1.0))
        second = first if kind == "flat" else second
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xs * np.cos(angle) + ys * np.sin(angle)
        t = ((t - t.min()) / max(1e-6, float(t.max() - t.min())))[..., None]
        rgb = np.rint((first * (1 - t) + second * t) * 255).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full((height, width, 1), 255, np.uint8)], -1)
    canvas.add(f"background ({kind})", [Primitive(f"background ({kind})", rgba, 0, 0)])


def place(canvas: Canvas, height: int, width: int, taken: list) -> tuple[int, int]:
    """A (top, left) for a box inside the margins that overlaps the ``taken`` boxes least."""
    rng, margin = canvas.rng, 16
    best, best_overlap = (margin, margin), None
    for _ in range(40):
        top = int(rng.integers(margin, max(margin + 1, canvas.height - height - margin)))
        left = int(rng.integers(margin, max(margin + 1, canvas.width - width - margin)))
        overlap = sum(
            max(0, min(top + height, b) - max(top, t)) * max(0, min(left + width, r) - max(left, lf))
            for t, lf, b, r in taken
        )
        if best_overlap is None or overlap < best_overlap:
            best, best_overlap = (top, left), overlap
    return best


def card(canvas: Canvas, index: int, taken: list) -> None:
    """A rounded card holding 1-3 text lines and optionally a photo thumbnail and a button."""
    rng = canvas.rng
    width = int(canvas.width * (rng.uniform(0.4, 0.7) if canvas.cards < 2 else rng.uniform(0.32, 0.46)))
    radius = float(rng.choice([0, 8, 16, 24]))
    pad = int(radius) + int(rng.integers(14, 26))
    inner = width - 2 * pad
    rows: list[tuple[str, np.ndarray, str]] = []  # (kind, alpha mask or photo pixels, text)
    if rng.random() < 0.4:
        rows.append(("photo", photo_pixels(rng, int(inner * rng.uniform(0.4, 0.6)), inner, canvas.hue), ""))
    for line in range(int(rng.integers(1, 4))):
        size = int(rng.integers(28, 44)) if line == 0 else int(rng.integers(16, 24))
        mask, text = fitted_text(canvas, TITLES if line == 0 else BODY, size, inner)
        rows.append(("text", mask, text))
    if rng.random() < 0.5:
        rows.append(("button", *fitted_text(canvas, BUTTONS, int(rng.integers(16, 22)), inner - 60)))
    height = 2 * pad + sum(_row_height(kind, data) for kind, data, _ in rows) + 14 * (len(rows) - 1)
    height = min(height, canvas.height - 40)
    top, left = place(canvas, height, width, taken)
    taken.append((top, left, top + height, left + width))
    fill = colour(canvas.hue + rng.uniform(-0.5, 0.5), rng.uniform(0.0, 0.5), rng.uniform(0.15, 1.0))
    name = f"card {index}"
    parts = [Primitive(name, solid(fill, shape_mask("rounded", height, width, radius)), top, left)]
    canvas.paint(parts)
    y = top + pad
    for kind, data, label in rows:
        if y + _row_height(kind, data) > top + height - pad:
            break
        parts += _card_row(canvas, name, kind, data, label, y, left + pad)
        y += _row_height(kind, data) + 14
    canvas.elements.append((name, parts))


def _row_height(kind: str, data: np.ndarray) -> int:
    return data.shape[0] + (24 if kind == "button" else 0)


def _card_row(canvas, card_name, kind, data, label, top, left) -> list[Primitive]:
    """The primitives of one row of a card (a thumbnail, a text line, or a button and its label)."""
    if kind == "photo":
        thumbnail = Primitive(f"{card_name} photo", _opaque(data), top, left)
        canvas.paint([thumbnail])
        return [thumbnail]
    if kind == "text":
        fill = contrasting(canvas, canvas.mean_colour((top, left, top + 4, left + 4)))
        text = Primitive(f"{card_name} text '{label}'", solid(fill, data), top, left)
        canvas.paint([text])
        return [text]
    height, width = data.shape[0] + 24, data.shape[1] + 48
    fill = colour(canvas.hue + 0.5, canvas.rng.uniform(0.5, 0.9), canvas.rng.uniform(0.5, 0.9))
    button = Primitive(
        f"{card_name} button", solid(fill, shape_mask("rounded", height, width, 12)), top, left
    )
    ink = contrasting(canvas, fill)
    word = Primitive(f"{card_name} button label '{label}'", solid(ink, data), top + 12, left + 24)
    canvas.paint([button, word])
    return [button, word]


def _opaque(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], -1)


def title(canvas: Canvas, index: int, taken: list) -> None:
    """A free text run on the page, in a colour that reads on what lies under it."""
    rng = canvas.rng
    mask, text = fitted_text(canvas, TITLES, int(rng.integers(36, 76)), canvas.width - 40)
    top, left = place(canvas, *mask.shape, taken)
    taken.append((top, left, top + mask.shape[0], left + mask.shape[1]))
    under = canvas.mean_colour((top, left, top + mask.shape[0], left + mask.shape[1]))
    name = f"title '{text}'"
    canvas.add(name, [Primitive(name, solid(contrasting(canvas, under), mask), top, left)])


def shape(canvas: Canvas, index: int, taken: list) -> None:
    """A flat circle, ellipse, rectangle or rounded rectangle; sometimes on the corner of the last card."""
    rng = canvas.rng
    kind = ("circle", "ellipse", "rectangle", "rounded rectangle")[rng.integers(4)]
    cards = [parts[0].box for name, parts in canvas.elements if name.startswith("card")]
    badge = bool(cards) and rng.random() < 0.6  # a small shape over a card corner
    height = int(min(canvas.height, canvas.width) * rng.uniform(*((0.08, 0.16) if badge else (0.12, 0.35))))
    width = height if kind == "circle" else int(height * rng.uniform(0.6, 1.8))
    if badge:
        corner_top, corner_left = cards[-1][rng.integers(2) * 2], cards[-1][1 + rng.integers(2) * 2]
        top = int(np.clip(corner_top - height // 2, 0, canvas.height - height))
        left = int(np.clip(corner_left - width // 2, 0, canvas.width - width))
    else:
        top, left = place(canvas, height, width, taken)
    taken.append((top, left, top + height, left + width))
    mask_kind = "ellipse" if kind in ("circle", "ellipse") else "rounded"
    radius = 0.0 if kind == "rectangle" else min(height, width) * 0.2
    fill = colour(canvas.hue + rng.uniform(0.3, 0.7), rng.uniform(0.4, 0.9), rng.uniform(0.4, 0.95))
    name = f"{kind} {index}"
    canvas.add(name, [Primitive(name, solid(fill, shape_mask(mask_kind, height, width, radius)), top, left)])


def photo(canvas: Canvas, index: int, taken: list) -> None:
    """A rectangular photo placed on the page."""
    rng = canvas.rng
    width = int(canvas.width * rng.uniform(0.25, 0.5))
    height = int(width * rng.uniform(0.6, 1.3))
    top, left = place(canvas, height, width, taken)
    taken.append((top, left, top + height, left + width))
    pixels = photo_pixels(rng, height, width, canvas.hue + rng.uniform(-0.3, 0.3))
    name = f"photo {index}"
    canvas.add(name, [Primitive(name, _opaque(pixels), top, left)])


def caption(canvas: Canvas, index: int, photo: Primitive, rng: np.random.Generator) -> None:
    """A title lying wholly on ``photo`` (a headline on a picture), a top-level element of its own just
    above the photo; drawn after the design, from ``rng``, so that the rest of the design is unchanged."""
    top, left, bottom, right = photo.box
    mask, text = fitted_text(canvas, TITLES, int(rng.integers(24, 57)), right - left - 16, rng)
    height, width = mask.shape
    if height > bottom - top - 16:
        return
    y = top + 8 + int(rng.integers(0, bottom - top - 16 - height + 1))
    x = left + 8 + int(rng.integers(0, right - left - 16 - width + 1))
    under = photo.rgba[y - top : y - top + height, x - left : x - left + width, :3].reshape(-1, 3).mean(0)
    ink = contrasting(canvas, under / 255.0, rng)
    name = f"caption {index} '{text}'"
    at = next(i for i, (_, parts) in enumerate(canvas.elements) if parts[0] is photo)
    canvas.elements.insert(at + 1, (name, [Primitive(name, solid(ink, mask), y, x)]))


# --- the design -----------------------------------------------------------------------------------------


def cast_shadows(canvas: Canvas, rng: np.random.Generator) -> None:
    """Give about half the top-level elements a soft drop shadow, drawn into the element's own layer
    (a layer effect, as a PSD renders it): a blurred, offset copy of its outline in black or a dark tint.
    ``rng`` is apart from the design's, so the design is otherwise the one without shadows."""
    for _, parts in canvas.elements:
        if rng.random() < 0.5:
            continue
        blur, opacity = rng.uniform(2.0, 10.0), rng.uniform(0.2, 0.6)
        offset = (int(rng.integers(0, 13)), int(rng.integers(-6, 7)))
        tint = np.zeros(3, np.float32) if rng.random() < 0.6 else colour(canvas.hue, 0.6, 0.25)
        parts[0] = _shadowed(parts[0], canvas, blur, opacity, offset, tint)


def _shadowed(part: Primitive, canvas: Canvas, blur: float, opacity: float, offset, tint) -> Primitive:
    """``part`` over its drop shadow, on a crop grown to hold the shadow (within the canvas)."""
    pad = int(np.ceil(3 * blur)) + max(abs(offset[0]), abs(offset[1]))
    top, left = max(part.top - pad, 0), max(part.left - pad, 0)
    bottom = min(part.top + part.rgba.shape[0] + pad, canvas.height)
    right = min(part.left + part.rgba.shape[1] + pad, canvas.width)
    body = np.zeros((bottom - top, right - left, 4), np.float32)
    y, x = part.top - top, part.left - left
    body[y : y + part.rgba.shape[0], x : x + part.rgba.shape[1]] = part.rgba / 255.0
    cast = np.roll(body[..., 3], offset, axis=(0, 1))
    shadow = opacity * cv2.GaussianBlur(cast, (0, 0), blur)
    a = body[..., 3] + shadow * (1 - body[..., 3])
    rgb = (body[..., :3] * body[..., 3:] + tint * (shadow * (1 - body[..., 3]))[..., None]) / np.maximum(
        a, 1e-6
    )[..., None]
    rgba = np.clip(np.rint(np.dstack([rgb, a]) * 255.0), 0, 255).astype(np.uint8)
    return Primitive(part.name, rgba, top, left)


def canvas_size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width): portrait, landscape or square, about 0.3-0.6 megapixels."""
    orientation = rng.integers(3)
    if orientation == 2:
        side = int(rng.integers(560, 761))
        return side, side
    short, long = int(rng.integers(480, 641)), int(rng.integers(700, 901))
    return (long, short) if orientation == 0 else (short, long)


def element_kinds(rng: np.random.Generator) -> list:
    """2-5 top-level elements, back to front: photos and loose shapes, cards (then badges), titles."""
    count = int(rng.integers(2, 6))
    kinds = [card if rng.random() < 0.7 else title]
    kinds += [(card, title, shape, photo, shape)[rng.integers(5)] for _ in range(count - 1)]
    if kinds.count(card) > 2:
        kinds = [k if k is not card or i < 2 else title for i, k in enumerate(kinds)]
    depth = {photo: 0, card: 1, shape: 2 if rng.random() < 0.7 else 0, title: 3}
    return sorted(kinds, key=lambda k: depth[k])


def make_design(seed: int, shadows: bool = False, captions: bool = False) -> tuple[GroundTruth, GroundTruth]:
    """The (group, leaf) ground truth of the synthetic design ``seed`` (deterministic per seed).

    With ``shadows``, the same design with soft drop shadows under some of its elements; with
    ``captions``, with a title lying on each photo placed on the page.
    """
    rng = np.random.default_rng(seed)
    height, width = canvas_size(rng)
    canvas = Canvas(rng, height, width, hue=float(rng.random()))
    background(canvas)
    taken: list = []
    counts: dict[str, int] = {}
    kinds = element_kinds(rng)
    canvas.cards = kinds.count(card)
    for kind in kinds:
        counts[kind.__name__] = counts.get(kind.__name__, 0) + 1
        kind(canvas, counts[kind.__name__], taken)
    if captions:
        photos = [parts[0] for name, parts in canvas.elements if name.startswith("photo")]
        for index, photo in enumerate(photos, start=1):
            caption(canvas, index, photo, np.random.default_rng((seed, 2, index)))
    if shadows:
        cast_shadows(canvas, np.random.default_rng((seed, 1)))
    shown = _shown(canvas)
    elements = [(name, [p for p in parts if id(p) in shown]) for name, parts in canvas.elements]
    elements = [(name, parts) for name, parts in elements if parts]
    leaves = [(part, _layer(part, canvas)) for _, parts in elements for part in parts]
    groups = [(name, over([_layer(p, canvas) for p in parts])) for name, parts in elements]
    image = _flatten(over([layer for _, layer in leaves]))
    name = f"synthetic-{seed:03d}"
    return (
        GroundTruth(name, "group", [g for _, g in groups], [n for n, _ in groups], image, None),
        GroundTruth(name, "leaf", [lr for _, lr in leaves], [p.name for p, _ in leaves], image, None),
    )


def _shown(canvas: Canvas) -> set[int]:
    """Ids of the primitives some pixel of the image shows.

    A primitive wholly under opaque ones cannot be recovered from the image (the PSD ground truth drops
    such layers too); those opaque pixels hide it exactly, so dropping it leaves the composite unchanged.
    """
    open_ = np.ones((canvas.height, canvas.width), bool)
    shown = set()
    for part in reversed([p for _, parts in canvas.elements for p in parts]):
        top, left, bottom, right = part.box
        alpha = part.rgba[..., 3]
        if ((alpha > 0) & open_[top:bottom, left:right]).any():
            shown.add(id(part))
        open_[top:bottom, left:right] &= alpha < 255
    return shown


def _layer(part: Primitive, canvas: Canvas) -> Layer:
    return Layer.from_array(part.rgba, offset=(part.top, part.left), canvas=(canvas.height, canvas.width))


def _flatten(layer: Layer) -> Image.Image:
    """The opaque composite as uint8 RGB, rounded like the PSD ground truth."""
    return Image.fromarray(np.clip(np.rint(layer.to_array()[..., :3] * 255.0), 0, 255).astype(np.uint8))
