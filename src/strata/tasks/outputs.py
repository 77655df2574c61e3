"""Turn one generated :class:`~strata.layers.LayerStack` into stored files and the fields of a result item.

- ``TIFF`` (default), ``PSD``, ``ZIP``, ``ORA``: the item's image is the one layered file.
- ``PNG``, ``WEBP``, ``JPG``: the item's image is the composite, and ``layers`` lists every layer
  (``imageUUID`` plus the same output fields). JPG has no alpha: the composite is flattened onto
  white, and the layers are sent as PNG, because a layer flattened onto white is no longer a layer.

Every file is stored under its own UUID: the primary file's UUID is the item's ``imageUUID``, which a
later request may name as its reference image (:mod:`strata.tasks.references` rebuilds the composite
from the stored file then, so no extra copy is encoded here). Runs in a worker thread.
"""

from __future__ import annotations

import base64
import io
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image

from strata.exporters import FORMATS, render
from strata.layers import LayerStack
from strata.storage.base import FileKind, Storage

_MEDIA = {"JPG": "image/jpeg"}
_EXTENSIONS = {"JPG": ".jpg"}
_OUTPUT_FIELDS = {"URL": "imageURL", "base64Data": "imageBase64Data", "dataURI": "imageDataURI"}
#: Encoder options on the hot path. TIFF: deflate level 1 is about twice as fast as the default (6)
#: for some 30 % more bytes on photo-like layers, and two threads deflate the strips of large pages
#: side by side (measured in docs/server.md).
_FAST: dict[str, dict[str, Any]] = {"TIFF": {"level": 1, "workers": 2}}


@dataclass(frozen=True)
class Encoded:
    data: bytes
    media_type: str
    extension: str


@dataclass(frozen=True)
class Rendered:
    """The item fields (without taskType/taskUUID) and the primary file, for ``uploadEndpoint``."""

    image_uuid: str
    fields: dict[str, Any]
    primary: Encoded


def render_result(
    stack: LayerStack,
    *,
    fmt: str,
    quality: int,
    output_types: tuple[str, ...],
    storage: Storage,
    base_url: str,
    expires_at: float,
) -> Rendered:
    """Encode, store and describe one result (see the module docstring for what each format gives)."""
    image_uuid = str(uuid.uuid4())
    primary = encode_primary(stack, fmt, quality)
    fields = publish(primary, image_uuid, output_types, storage, base_url, expires_at, with_uuid=True)
    if fmt in ("PNG", "WEBP", "JPG"):
        fields["layers"] = [
            {
                "name": name,
                **publish(
                    encode_layer(layer, fmt, quality),
                    str(uuid.uuid4()),
                    output_types,
                    storage,
                    base_url,
                    expires_at,
                    with_uuid=True,
                ),
            }
            for name, layer in zip(stack.names, stack.layers, strict=True)
        ]
    return Rendered(image_uuid, fields, primary)


def encode_primary(stack: LayerStack, fmt: str, quality: int) -> Encoded:
    if fmt in ("PNG", "WEBP", "JPG"):
        composite = stack.composite()
    if fmt == "JPG":
        white = Image.new("RGBA", composite.size, (255, 255, 255, 255))
        buffer = io.BytesIO()
        Image.alpha_composite(white, composite).convert("RGB").save(buffer, "JPEG", quality=quality)
        return Encoded(buffer.getvalue(), _MEDIA["JPG"], _EXTENSIONS["JPG"])
    if fmt in ("PNG", "WEBP"):
        return encode_layer(composite, fmt, quality)
    spec = FORMATS[fmt.lower()]
    (data,) = render(stack, spec, **_FAST.get(fmt, {})).values()
    return Encoded(data, spec.media_type, spec.extension)


def encode_layer(layer: Image.Image, fmt: str, quality: int) -> Encoded:
    """One RGBA image in a per-layer format; JPG layers travel as PNG (alpha kept)."""
    if fmt == "WEBP":
        spec, options = FORMATS["webp"], {"quality": quality}
    else:  # zlib level 1: about 3x faster than the default for a few percent more bytes
        spec, options = FORMATS["png"], {"compress_level": 1}
    return Encoded(spec.module.layer_to_bytes(layer, **options), spec.media_type, spec.extension)


def publish(
    encoded: Encoded,
    file_id: str,
    output_types: tuple[str, ...],
    storage: Storage,
    base_url: str,
    expires_at: float,
    *,
    with_uuid: bool = False,
) -> dict[str, Any]:
    """Store ``encoded`` as an output file and return its output fields (URL / base64 / data URI)."""
    name = f"{file_id}{encoded.extension}"
    storage.put_file(FileKind.OUTPUT, file_id, name, encoded.data, encoded.media_type, expires_at)
    fields: dict[str, Any] = {"imageUUID": file_id} if with_uuid else {}
    for output_type in output_types:
        fields[_OUTPUT_FIELDS[output_type]] = output_value(encoded, output_type, base_url, name)
    return fields


def output_value(encoded: Encoded, output_type: str, base_url: str, name: str) -> str:
    if output_type == "URL":
        return f"{base_url}/v1/outputs/{name}"
    text = base64.b64encode(encoded.data).decode("ascii")
    return text if output_type == "base64Data" else f"data:{encoded.media_type};base64,{text}"
