"""Turn an image reference from a request into bytes.

Four forms are accepted, as on Runware: the UUID of an uploaded or generated image, an http(s) URL
(fetched through the SSRF guard), a ``data:`` URI, or bare base64. The SDKs inline existing local files
as data URIs; a path that did not exist on the client arrives as a plain string and is refused here
with a message that says so.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from strata.errors import InvalidInput, StrataError
from strata.exporters import FORMATS
from strata.net.datauri import decode_data_uri_or_base64
from strata.net.fetch import fetch_image_bytes
from strata.storage.base import FileKind, Storage

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s_-]+$")


class ImageNotFound(StrataError):
    code = "referenceImageNotFound"


async def reference_bytes(ref: str, *, storage: Storage, settings: Any, parameter: str) -> bytes:
    """The encoded image ``ref`` points to; errors name ``parameter``."""
    try:
        return await _load(ref, storage, settings)
    except StrataError as exc:
        exc.parameter = exc.parameter or parameter
        raise


async def _load(ref: str, storage: Storage, settings: Any) -> bytes:
    if _UUID.match(ref):
        data = await asyncio.to_thread(stored_image, storage, ref.lower())
        if data is None:
            raise ImageNotFound(f"no uploaded or generated image {ref} (unknown or expired)")
        return data
    if ref[:8].lower().startswith(("http://", "https://")):
        return await fetch_image_bytes(ref, settings=settings)
    if ref[:5].lower() == "data:" or (len(ref) >= 16 and _BASE64.match(ref[:4096])):
        return await asyncio.to_thread(decode_data_uri_or_base64, ref, max_bytes=settings.fetch_max_bytes)
    shown = ref if len(ref) <= 60 else ref[:57] + "..."
    raise InvalidInput(
        f"{shown!r} is not an image UUID, an http(s) URL, a data URI or base64 "
        "(the server never reads local paths: pass an existing file so the SDK inlines it)"
    )


def stored_image(storage: Storage, image_uuid: str) -> bytes | None:
    """An upload as stored, or a generated result as an image: layered files become their composite."""
    data = storage.read_file(FileKind.IMAGE, image_uuid)
    if data is not None:
        return data
    stored = storage.get_file(FileKind.OUTPUT, image_uuid)
    data = storage.read_file(FileKind.OUTPUT, image_uuid)
    if stored is None or data is None:
        return None
    fmt = FORMATS.get(Path(stored.name).suffix.lstrip("."))
    if fmt is None or fmt.per_layer:
        return data  # PNG, WEBP or JPG: already one picture
    composite = fmt.module.read(data).composite()
    return bytes(FORMATS["png"].module.layer_to_bytes(composite, compress_level=1))
