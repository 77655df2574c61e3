"""Layered file formats: write a :class:`~strata.layers.LayerStack`, and read one back.

Each format is one module in this package with

- ``to_bytes(stack, **options) -> bytes`` for single-file formats (TIFF, PSD, ZIP, ORA, PPTX), or
  ``layer_to_bytes(layer, **options) -> bytes`` for per-layer formats (PNG, WEBP);
- ``read(data: bytes) -> LayerStack`` where the format can be read back (used by ``strata compose``).

Files are written atomically (temporary name, then rename), so a failure never leaves half a file.
"""

from __future__ import annotations

import importlib
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from strata.errors import InvalidParameter, OutputError

if TYPE_CHECKING:
    from strata.layers import LayerStack

#: Formats encoded at once by :func:`render_all`.
_EXPORT_THREADS = 4


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    media_type: str
    #: One file per layer (PNG, WEBP) rather than one file for the stack.
    per_layer: bool = False
    #: Holds layers as full-canvas PNGs at the default level (ORA: those that cover the canvas):
    #: :func:`render_all` encodes them once for all such formats (``to_bytes`` takes them as ``pngs``).
    holds_pngs: bool = False

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"strata.exporters.{self.name}")


FORMATS: dict[str, Format] = {
    f.name: f
    for f in [
        Format("png", ".png", "image/png", per_layer=True, holds_pngs=True),
        Format("webp", ".webp", "image/webp", per_layer=True),
        Format("tiff", ".tiff", "image/tiff"),
        Format("psd", ".psd", "image/vnd.adobe.photoshop"),
        Format("zip", ".zip", "application/zip", holds_pngs=True),
        Format("ora", ".ora", "image/openraster", holds_pngs=True),
        Format(
            "pptx",
            ".pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            holds_pngs=True,
        ),
    ]
}

_EXTENSION_ALIASES = {".tif": "tiff", ".psb": "psd"}


#: Characters no XML 1.0 document can hold, even escaped (control characters, lone surrogates,
#: U+FFFE/U+FFFF), and that UTF-8/UTF-16 cannot encode (surrogates).
_UNSAFE_IN_NAMES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_name(name: str) -> str:
    """``name`` with the characters that would make a layered file unreadable replaced by U+FFFD."""
    return _UNSAFE_IN_NAMES.sub("\ufffd", name)


def get_format(name: str) -> Format:
    try:
        return FORMATS[name.lower().lstrip(".")]
    except KeyError:
        raise InvalidParameter(
            f"unknown format {name!r}", parameter="format", allowed_values=list(FORMATS)
        ) from None


def format_for_path(path: Path) -> Format:
    suffix = path.suffix.lower()
    name = _EXTENSION_ALIASES.get(suffix, suffix.lstrip("."))
    return get_format(name)


def layer_file_name(index: int, fmt: Format) -> str:
    """``layer_00.png``: lexical order is back-to-front order."""
    return f"layer_{index:02d}{fmt.extension}"


def render(stack: LayerStack, fmt: Format, **options: Any) -> dict[str, bytes]:
    """Encode ``stack`` in ``fmt``: file name -> bytes (one entry, or one per layer).

    ``pngs=`` (formats that hold PNGs): the layers already encoded by the PNG exporter's defaults.
    """
    if fmt.per_layer:
        if "pngs" in options:
            return {layer_file_name(i, fmt): data for i, data in enumerate(options["pngs"])}
        encode = fmt.module.layer_to_bytes
        return {layer_file_name(i, fmt): encode(layer, **options) for i, layer in enumerate(stack.layers)}
    return {f"layers{fmt.extension}": fmt.module.to_bytes(stack, **options)}


def render_all(
    stack: LayerStack, formats: list[Format], options: dict[str, dict[str, Any]] | None = None
) -> dict[str, bytes]:
    """:func:`render` in each of ``formats`` (with ``options`` per format name), side by side on a few
    threads: the encoders (zlib, libwebp, numpy) release the interpreter lock, and one stack written in
    seven formats is otherwise mostly waiting on one core. Per-layer formats are encoded layer by layer,
    so that one slow format (lossless WEBP) does not hold one thread to the end; formats that hold the
    same PNGs (PNG, ZIP, PPTX, ORA's full-canvas layers) share one encoding of each layer. The first
    error is raised."""
    from strata.exporters.png import layer_to_bytes

    options = options or {}
    sharing = [fmt for fmt in formats if fmt.holds_pngs and not options.get(fmt.name)]
    if len(sharing) < 2:
        sharing = []
    workers = min(len(formats) + len(stack.layers), os.cpu_count() or 1, _EXPORT_THREADS)
    with ThreadPoolExecutor(workers, thread_name_prefix="strata-export") as pool:
        # Submitted first, so every one of them is running or done before any task waits on them.
        encoded = [pool.submit(layer_to_bytes, layer) for layer in stack.layers] if sharing else []

        def task(fmt: Format, index: int | None) -> dict[str, bytes]:
            if fmt in sharing:
                return render(stack, fmt, pngs=[future.result() for future in encoded])
            if index is None:
                return render(stack, fmt, **options.get(fmt.name, {}))
            data = fmt.module.layer_to_bytes(stack.layers[index], **options.get(fmt.name, {}))
            return {layer_file_name(index, fmt): data}

        # Whole files first, then single layers, which fill the threads' gaps at the end.
        split = [fmt for fmt in formats if fmt.per_layer and fmt not in sharing]
        parts = {fmt: [pool.submit(task, fmt, None)] for fmt in formats if fmt not in split}
        for fmt in split:
            parts[fmt] = [pool.submit(task, fmt, index) for index in range(len(stack.layers))]
        return {name: data for fmt in formats for part in parts[fmt] for name, data in part.result().items()}


def write_files(files: dict[str, bytes], directory: Path) -> list[Path]:
    """Write every file atomically into ``directory`` (created if needed); returns the paths."""
    _make_folder(directory)
    written = []
    for name, data in files.items():
        written.append(atomic_write(directory / name, data))
    return written


def _make_folder(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {directory}: {exc.strerror}") from None


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename; OSError becomes OutputError."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise OutputError(f"cannot write to {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, or a folder already named like the file
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_to_path(stack: LayerStack, path: Path, **options: Any) -> list[Path]:
    """Write ``stack`` to ``path``; a path without extension is a folder of PNG layers."""
    if not path.suffix:
        return write_files(render(stack, FORMATS["png"], **options), path)
    fmt = format_for_path(path)
    if fmt.per_layer:
        return write_files(render(stack, fmt, **options), path.with_suffix(""))
    _make_folder(path.parent)
    return [atomic_write(path, fmt.module.to_bytes(stack, **options))]
