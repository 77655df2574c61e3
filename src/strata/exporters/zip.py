"""ZIP of PNG layers plus ``manifest.json`` (order, names, bounding boxes, canvas size, metadata)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from strata.errors import InvalidInput, LimitExceeded
from strata.exporters import FORMATS, layer_file_name
from strata.exporters.png import decode_layer, layer_to_bytes
from strata.layers import LayerStack

MANIFEST = "manifest.json"
#: Bumped when the manifest layout changes incompatibly.
MANIFEST_VERSION = 1
#: No member of a layer archive needs more than this (a 64 MP RGBA layer as PNG is at most ~260 MB).
MAX_MEMBER_BYTES = 512 * 1024 * 1024


def to_bytes(stack: LayerStack, *, pngs: list[bytes] | None = None) -> bytes:
    """Encode ``stack`` as a ZIP: ``layer_00.png`` (background) ... plus ``manifest.json``.

    ``pngs``: the layers already encoded as PNG (see :func:`~strata.exporters.render_all`).
    """
    pngs = pngs or [layer_to_bytes(layer) for layer in stack.layers]
    png = FORMATS["png"]
    buffer = io.BytesIO()
    entries = []
    # PNG data is already deflated; storing it again compressed would only cost time.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        boxes = stack.bounding_boxes()
        for index, (data, name, box) in enumerate(zip(pngs, stack.names, boxes, strict=True)):
            file_name = layer_file_name(index, png)
            archive.writestr(file_name, data)
            entries.append(
                {"index": index, "name": name, "file": file_name, "bbox": list(box) if box else None}
            )
        archive.writestr(
            MANIFEST, json.dumps(manifest(stack, entries), indent=2, default=str), zipfile.ZIP_DEFLATED
        )
    return buffer.getvalue()


def manifest(stack: LayerStack, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest: layers back to front; ``bbox`` is [left, top, right, bottom) or null when empty."""
    width, height = stack.size
    return {
        "format": "strata-layers",
        "version": MANIFEST_VERSION,
        "order": "back-to-front",
        "canvas": {"width": width, "height": height},
        "layers": entries,
        "metadata": stack.metadata,
    }


def read(data: bytes) -> LayerStack:
    """Read the layers in manifest order (or, without a manifest, the PNG files in lexical order)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if MANIFEST in names:
                info = json.loads(read_member(archive, MANIFEST))
                files = [entry["file"] for entry in info["layers"]]
                layer_names = [str(entry.get("name", entry["file"])) for entry in info["layers"]]
                metadata = info.get("metadata") or {}
            else:
                files = sorted(n for n in names if n.lower().endswith((".png", ".webp")))
                layer_names, metadata = [], {}
            if not files:
                raise InvalidInput("the ZIP holds no layers")
            layers = [decode_layer(read_member(archive, name)) for name in files]
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"not a readable layer ZIP ({exc})") from None
    return _stack(layers, layer_names, metadata)


def read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """Read one member, refusing one that inflates past :data:`MAX_MEMBER_BYTES` (a zip bomb)."""
    if archive.getinfo(name).file_size > MAX_MEMBER_BYTES:
        raise LimitExceeded(f"{name} in the archive is larger than {MAX_MEMBER_BYTES} bytes")
    return archive.read(name)


def _stack(layers: list, names: list[str], metadata: dict[str, Any]) -> LayerStack:
    try:
        return LayerStack(layers, names=names, metadata=metadata)
    except ValueError as exc:
        raise InvalidInput(f"inconsistent layers in the ZIP: {exc}") from None
