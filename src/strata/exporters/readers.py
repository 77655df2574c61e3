"""Read a layer stack back from any exported file, or from a folder of per-layer images.

Used by :func:`strata.open_layers` and ``strata compose``. Every failure is an
:class:`~strata.errors.InvalidInput` (or :class:`~strata.errors.LimitExceeded`) with one line of text.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from strata.errors import InvalidInput, StrataError
from strata.exporters import FORMATS, format_for_path
from strata.exporters.png import decode_layer
from strata.layers import LayerStack

#: Per-layer files a folder may hold; ``layer_00.png`` ... sort back to front.
LAYER_SUFFIXES = (".png", ".webp")


def read_stack(path: Path) -> LayerStack:
    """Read ``path``: a .tiff/.psd/.zip/.ora/.pptx file, one .png/.webp layer, or a folder of layers.

    >>> read_stack(Path("out/poster/layers.psd")).size  # doctest: +SKIP
    (1024, 768)
    """
    path = Path(path)
    if path.is_dir():
        return read_folder(path)
    if not path.exists():
        raise InvalidInput(f"no such file or folder: {path}")
    data = _read_bytes(path)
    if not data:
        raise InvalidInput(f"{path} is empty (0 bytes)")
    try:
        fmt = format_for_path(path)
    except StrataError:
        raise InvalidInput(
            f"cannot read layers from {path.name}: use a folder or one of "
            + ", ".join(f.extension for f in FORMATS.values())
        ) from None
    module = importlib.import_module(f"strata.exporters.{fmt.name}")
    return module.read(data)


def read_folder(folder: Path) -> LayerStack:
    """Read ``layer_*.png`` / ``layer_*.webp`` (or, failing that, every PNG/WEBP) in lexical order."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in LAYER_SUFFIXES and p.is_file())
    named = [p for p in files if p.name.startswith("layer_")]
    files = named or files
    if not files:
        raise InvalidInput(f"no layer images (layer_00.png, ...) in {folder}")
    if len({p.suffix.lower() for p in files}) > 1:
        # A folder exported as both PNG and WEBP holds every layer twice; PNG is the lossless copy.
        files = [p for p in files if p.suffix.lower() == ".png"]
    layers = [decode_layer(_read_bytes(p)) for p in files]
    try:
        return LayerStack(layers, names=[p.stem for p in files])
    except ValueError as exc:
        raise InvalidInput(f"the layers in {folder} do not share one canvas: {exc}") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
