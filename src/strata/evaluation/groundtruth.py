"""Ground-truth layers from layered design files (``*.psd`` / ``*.psb``, read with psd-tools).

Two granularities, as docs/evaluation.md describes:

* ``group``: every visible top-level layer or group, rendered on its own, back to front. A document whose
  only visible top-level item is a group is opened up (repeatedly), because "the whole design" is not a
  useful single layer.
* ``leaf``: every visible leaf layer in document order; clipped layers are rendered into their base layer,
  and the opacity of enclosing groups is applied to the leaf's alpha.

Each layer is rendered with psd-tools over its own box (identical to a full-canvas render, much cheaper).
Layers that no pixel of the composite shows are dropped (nothing in the input can tell what they hold).
The input image of a design is the alpha-over of its ground-truth layers. Where that composite is not
opaque everywhere, an opaque white layer is added at the bottom (as LayerD does for Crello), so that the
ground truth, like an engine's output, has an opaque background and composites exactly to the input.
Designs are scored at full size unless ``max_side`` asks for a smaller canvas (LayerD renders Crello at
short side 512; our designs are at most 1024 px, so full size stays cheap and avoids resampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from strata.errors import InvalidInput, InvalidParameter
from strata.evaluation.layer import Layer, over

GRANULARITIES = ("group", "leaf")
DESIGN_SUFFIXES = (".psd", ".psb")
#: A layer counts as shown when it contributes at least half an 8-bit step to some pixel.
VISIBLE = 0.5 / 255.0


@dataclass
class GroundTruth:
    """One design: its ground-truth layers at one granularity and the input image they composite to."""

    name: str
    granularity: str
    layers: list[Layer]
    names: list[str]
    image: Image.Image
    #: PSNR (dB) of ``image`` against the composite embedded in the file, both on white; None if absent.
    reference_psnr: float | None

    @property
    def megapixels(self) -> float:
        return self.image.width * self.image.height / 1e6


def find_designs(dataset: str | Path) -> list[Path]:
    """The design files of ``dataset`` (a folder, searched non-recursively, or one file), sorted by name."""
    root = Path(dataset)
    if root.is_file():
        paths = [root]
    elif root.is_dir():
        paths = sorted(p for p in root.iterdir() if p.suffix.lower() in DESIGN_SUFFIXES)
    else:
        raise InvalidInput(f"no such dataset: {root}", parameter="dataset")
    if not paths:
        raise InvalidInput(f"no .psd or .psb designs in {root}", parameter="dataset")
    return paths


def load_ground_truth(
    path: str | Path, granularity: str = "group", max_side: int | None = None
) -> GroundTruth:
    """Read one design and build its ground truth; ``max_side`` scales the canvas down to fit."""
    if granularity not in GRANULARITIES:
        raise InvalidParameter(
            f"unknown granularity {granularity!r}",
            parameter="granularity",
            allowed_values=list(GRANULARITIES),
        )
    psd = _open(Path(path))
    chosen = _top_level(psd) if granularity == "group" else _leaves(psd)
    layers, names = [], []
    for item in chosen:
        layer = _render(psd, item, max_side)
        if layer is not None:
            layers.append(layer)
            names.append(item.name)
    layers, names = _drop_hidden(layers, names)
    if not layers:
        raise InvalidInput(f"{path}: no visible layers", parameter="dataset")
    composite = over(layers).to_array()
    if composite[..., 3].min() < 1.0:
        layers.insert(0, _white(layers[0].canvas))
        names.insert(0, "white background")
    image = _to_rgb_uint8(over(layers).to_array())
    return GroundTruth(
        name=Path(path).stem,
        granularity=granularity,
        layers=layers,
        names=names,
        image=Image.fromarray(image, "RGB"),
        reference_psnr=_reference_psnr(psd, image),
    )


def _open(path: Path):
    from psd_tools import PSDImage

    try:
        return PSDImage.open(path)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{path}: not a readable PSD/PSB file ({exc})", parameter="dataset") from None


def _top_level(psd) -> list:
    items = [layer for layer in psd if layer.is_visible() and not layer.clipping]
    while len(items) == 1 and items[0].is_group():
        items = [layer for layer in items[0] if layer.is_visible() and not layer.clipping]
    return items


def _leaves(psd) -> list:
    return [
        layer
        for layer in psd.descendants()
        if layer.is_visible() and not layer.is_group() and not layer.clipping
    ]


def _render(psd, item, max_side: int | None) -> Layer | None:
    """Render one psd-tools layer (with its clipped layers) as a :class:`Layer` on the document canvas."""
    left, top, right, bottom = psd.viewbox
    box = (max(item.left, left), max(item.top, top), min(item.right, right), min(item.bottom, bottom))
    if box[0] >= box[2] or box[1] >= box[3]:
        return None
    image = item.composite(viewport=box)
    if image is None:
        return None
    rgba = np.array(image.convert("RGBA"))
    factor = _enclosing_opacity(psd, item)
    if factor < 1.0:
        rgba[..., 3] = np.rint(rgba[..., 3] * factor).astype(np.uint8)
    canvas = (bottom - top, right - left)
    offset = (box[1] - top, box[0] - left)
    if max_side is not None and max(canvas) > max_side:
        rgba = _downscale(rgba, offset, canvas, max_side)
        canvas, offset = _scaled(canvas, max_side), (0, 0)
    layer = Layer.from_array(rgba, offset=offset, canvas=canvas)
    return None if layer.empty else layer


def _drop_hidden(layers: list[Layer], names: list[str]) -> tuple[list[Layer], list[str]]:
    """Drop layers that no pixel of the composite shows (covered by opaque layers above).

    Nothing in the input image says what such a layer looks like, so scoring against it would only
    measure a guess (three designs have a background hidden under a full-canvas opaque layer).
    """
    transmittance = np.ones(layers[0].canvas, np.float32)
    keep = []
    for layer, name in zip(reversed(layers), reversed(names), strict=True):
        top, left, bottom, right = layer.box
        alpha = layer.rgba[..., 3]
        seen = transmittance[top:bottom, left:right]
        if (alpha * seen).max() >= VISIBLE:
            keep.append((layer, name))
        seen *= 1.0 - alpha
    keep.reverse()
    return [layer for layer, _ in keep], [name for _, name in keep]


def _enclosing_opacity(psd, item) -> float:
    factor, parent = 1.0, item.parent
    while parent is not None and parent is not psd:
        factor *= parent.opacity / 255.0
        parent = parent.parent
    return factor


def _scaled(canvas: tuple[int, int], max_side: int) -> tuple[int, int]:
    scale = max_side / max(canvas)
    return max(1, round(canvas[0] * scale)), max(1, round(canvas[1] * scale))


def _downscale(
    rgba: np.ndarray, offset: tuple[int, int], canvas: tuple[int, int], max_side: int
) -> np.ndarray:
    """Place the crop on the full canvas and shrink it with premultiplied area averaging (no fringes)."""
    full = Image.new("RGBA", (canvas[1], canvas[0]), (0, 0, 0, 0))
    full.paste(Image.fromarray(rgba, "RGBA"), (offset[1], offset[0]))
    height, width = _scaled(canvas, max_side)
    small = full.convert("RGBa").resize((width, height), Image.Resampling.BOX).convert("RGBA")
    return np.array(small)


def _white(canvas: tuple[int, int]) -> Layer:
    return Layer.from_array(np.ones((*canvas, 4), np.float32))


def _to_rgb_uint8(rgba: np.ndarray) -> np.ndarray:
    """Flatten float RGBA on white and round to uint8 RGB."""
    rgb = rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def _reference_psnr(psd, image: np.ndarray) -> float | None:
    embedded = psd.topil()
    if embedded is None or embedded.size != (image.shape[1], image.shape[0]):
        return None
    reference = _to_rgb_uint8(np.asarray(embedded.convert("RGBA"), np.float32) / 255.0)
    mse = float(np.mean((reference.astype(np.float64) - image) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
