"""Geometric resampling of straight-alpha RGBA layers, done in premultiplied float.

Interpolating straight colour lets the (meaningless) colour of transparent pixels bleed into the edge of
what is visible: a red shape on transparent black gets a dark fringe. Multiplying colour by alpha first,
resampling the four channels as 32-bit floats and dividing back avoids that, and keeps the faint colour
of low-alpha pixels that 8-bit premultiplication would round away.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

_CUBIC = Image.Resampling.BICUBIC
_LANCZOS = Image.Resampling.LANCZOS


def shift(image: Image.Image, dx: int, dy: int) -> Image.Image:
    """Move by whole pixels: every pixel keeps its exact value; what leaves the canvas is gone."""
    pixels = np.asarray(image)
    height, width = pixels.shape[:2]
    out = np.zeros_like(pixels)
    if abs(dx) < width and abs(dy) < height:
        out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = pixels[
            max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)
        ]
    return Image.fromarray(out, "RGBA")


def scale_translate(image: Image.Image, sx: float, sy: float, tx: float, ty: float) -> Image.Image:
    """Map each point (x, y) of ``image`` to (sx*x + tx, sy*y + ty) on the same canvas.

    Shrinking uses Lanczos over the full footprint of each output pixel (no aliasing), enlarging and
    sub-pixel moves use bicubic interpolation. Only the layer's visible box is resampled.
    """
    box = image.getchannel("A").getbbox()
    width, height = image.size
    if box is None:
        return image.copy()
    # 1. The output pixels the moved box can touch, plus a margin for the kernel, clipped to the canvas.
    out_x0, out_x1 = _span(box[0], box[2], sx, tx, width)
    out_y0, out_y1 = _span(box[1], box[3], sy, ty, height)
    result = Image.new("RGBA", image.size, (0, 0, 0, 0))
    if out_x0 >= out_x1 or out_y0 >= out_y1:
        return result
    # 2. Their footprint in the source, on a zero-padded premultiplied crop so the kernel sees transparency.
    src = ((out_x0 - tx) / sx, (out_y0 - ty) / sy, (out_x1 - tx) / sx, (out_y1 - ty) / sy)
    margin = math.ceil(3 / min(sx, sy, 1.0)) + 2
    left, top = math.floor(src[0]) - margin, math.floor(src[1]) - margin
    right, bottom = math.ceil(src[2]) + margin, math.ceil(src[3]) + margin
    planes = _premultiplied_crop(image, (left, top, right, bottom))
    # 3. Resample each float channel onto the output grid, then back to straight uint8.
    size = (out_x1 - out_x0, out_y1 - out_y0)
    local = (src[0] - left, src[1] - top, src[2] - left, src[3] - top)
    resample = _LANCZOS if min(sx, sy) < 1.0 else _CUBIC
    channels = [np.asarray(p.resize(size, resample, box=local)) for p in planes]
    result.paste(_straight(channels), (out_x0, out_y0))
    return result


def rotate(image: Image.Image, degrees: float, cx: float, cy: float) -> Image.Image:
    """Rotate clockwise (as seen on screen) by ``degrees`` about the point (cx, cy), bicubic."""
    planes = _premultiplied_crop(image, (0, 0, *image.size))
    channels = [np.asarray(p.rotate(-degrees, _CUBIC, center=(cx, cy))) for p in planes]
    return _straight(channels)


def _span(start: int, stop: int, scale: float, offset: float, limit: int) -> tuple[int, int]:
    low, high = sorted((start * scale + offset, stop * scale + offset))
    return max(math.floor(low) - 2, 0), min(math.ceil(high) + 2, limit)


def _premultiplied_crop(image: Image.Image, box: tuple[int, int, int, int]) -> list[Image.Image]:
    """Four float32 'F' planes (r*a, g*a, b*a, a) of ``box``; outside the canvas is transparent."""
    left, top, right, bottom = box
    width, height = image.size
    crop = np.zeros((bottom - top, right - left, 4), np.float32)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if x0 < x1 and y0 < y1:
        pixels = np.asarray(image.crop((x0, y0, x1, y1)), np.float32) / 255.0
        pixels[..., :3] *= pixels[..., 3:4]
        crop[y0 - top : y1 - top, x0 - left : x1 - left] = pixels
    return [Image.fromarray(np.ascontiguousarray(crop[..., c]), "F") for c in range(4)]


def _straight(channels: list[np.ndarray]) -> Image.Image:
    """Premultiplied float planes back to a straight-alpha uint8 RGBA image (ringing clipped)."""
    alpha = np.clip(channels[3], 0.0, 1.0)
    premul = np.stack([np.clip(c, 0.0, alpha) for c in channels[:3]], axis=-1)
    rgb = np.divide(premul, alpha[..., None], out=np.zeros_like(premul), where=alpha[..., None] > 1e-6)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    return Image.fromarray(np.rint(rgba * 255.0).astype(np.uint8), "RGBA")
