"""``strata compose``: put layers back together into one flat image."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import typer
from PIL import Image

from strata.errors import OutputError
from strata.exporters import atomic_write
from strata.exporters.readers import read_stack

#: Output extension -> (Pillow format, save options). JPEG has no alpha: it gets the composite on white.
IMAGE_FORMATS: dict[str, tuple[str, dict]] = {
    ".png": ("PNG", {}),
    ".webp": ("WEBP", {"lossless": True, "exact": True}),
    ".tif": ("TIFF", {"compression": "tiff_adobe_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_adobe_deflate"}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
}


def register(app: typer.Typer) -> None:
    app.command("compose")(compose)


def compose(
    source: Annotated[
        Path, typer.Argument(help="A folder of layer_XX.png/.webp, or a .tiff/.psd/.zip/.ora/.pptx file.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The flat image to write (.png, .webp, .tiff, .jpg).")
    ],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Recomposite layers (straight-alpha "over", back to front) into one image."""
    image_format, options = output_format(out)
    stack = read_stack(source)
    data = encode(stack.composite(), image_format, options)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    atomic_write(out, data)
    if not quiet:
        width, height = stack.size
        print(f"{source} -> {out} ({len(stack)} layers, {width}x{height})")


def output_format(out: Path) -> tuple[str, dict]:
    """The Pillow format for ``out``'s extension, refused before any layer is read."""
    try:
        return IMAGE_FORMATS[out.suffix.lower()]
    except KeyError:
        raise OutputError(
            f"cannot write a {out.suffix or 'extension-less'} image; use one of {', '.join(IMAGE_FORMATS)}",
            allowed_values=list(IMAGE_FORMATS),
        ) from None


def encode(image: Image.Image, image_format: str, options: dict) -> bytes:
    if image_format == "JPEG":
        # JPEG has no alpha: flatten over white (as the evaluation does), rather than dropping alpha,
        # which would show the undefined colour of transparent pixels and harden anti-aliased edges.
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()
