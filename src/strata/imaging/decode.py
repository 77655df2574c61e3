"""Turn untrusted bytes or files into a PIL image, with limits.

Every input passes through :func:`open_image`: it refuses empty, truncated and non-image data, images
above a pixel-count limit (decompression bombs, checked from the header before any pixel is decoded),
applies the EXIF orientation and normalises the mode to RGB or RGBA.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from strata.errors import InvalidInput, LimitExceeded

#: Default pixel-count limit: 64 MP (8192 x 8192). Override with STRATA_MAX_PIXELS.
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024


def max_pixels() -> int:
    return int(os.environ.get("STRATA_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def open_image(source: str | Path | bytes | Image.Image, *, limit: int | None = None) -> Image.Image:
    """Decode ``source`` fully and return an RGB or RGBA image (alpha kept only when it is used).

    >>> open_image(Path("examples/poster.png")).mode in {"RGB", "RGBA"}
    True
    """
    if isinstance(source, Image.Image):
        return _normalise(source.copy())  # never change the caller's image
    limit = max_pixels() if limit is None else limit
    data = _read(source)
    if not data:
        raise InvalidInput("the input is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limit:
                raise LimitExceeded(
                    f"the image is {width}x{height} = {width * height} pixels, above the limit of {limit}"
                )
            image.load()
    except UnidentifiedImageError:
        raise InvalidInput("not an image, or an unsupported image format") from None
    except Image.DecompressionBombError:
        raise LimitExceeded(f"the image has more pixels than the limit of {limit}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidInput(f"the image is truncated or corrupt ({_first_line(exc)})") from None
    return _normalise(image)


def _read(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"is a directory, not an image: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


def _normalise(image: Image.Image) -> Image.Image:
    """EXIF-orient, then convert any mode (L, P, I;16, CMYK, LA, ...) to RGB or RGBA.

    Alpha is kept only if some pixel is not fully opaque, so an RGBA file that is opaque everywhere is
    treated like the RGB image it shows. ``image`` is the caller's to give: it is oriented in place,
    and an image already in its mode is returned without a copy.
    """
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in {"I;16B", "I;16L", "I;16N"}:
        image = image.convert("I")  # point() refuses these, and Pillow clips them when making I;16
    elif image.mode == "La":
        image = image.convert("LA")  # Pillow converts premultiplied La to nothing else
    if image.mode in {"I;16", "I"}:
        image = image.point(lambda v: v / 256).convert("L")
    has_alpha = image.mode in {"RGBA", "LA", "PA", "La", "RGBa"} or (
        image.mode == "P" and "transparency" in image.info
    )
    mode = "RGBA" if has_alpha else "RGB"
    if image.mode != mode:
        image = image.convert(mode)
    if has_alpha and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert("RGB")
    return image


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
