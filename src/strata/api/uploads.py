"""``imageUpload``: store a picture once, reference it later by the returned ``imageUUID``.

The image is fetched or decoded like any reference, checked with the same decoder and pixel limit as
an inference input (so a broken file is refused now, not at first use), and kept for
``STRATA_UPLOAD_TTL`` seconds. Re-sending the same task returns the same item; the upload is a task
record too, so its taskUUID cannot be reused for something else.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from typing import TYPE_CHECKING, Any

from PIL import Image

from strata.api.runware import fingerprint, parse_upload
from strata.imaging.decode import open_image
from strata.storage.base import FileKind
from strata.tasks.records import TaskRecord
from strata.tasks.references import reference_bytes
from strata.tasks.states import TaskStatus, transition

if TYPE_CHECKING:
    from strata.api.session import ServerContext

_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tiff"}


async def upload(ctx: ServerContext, task: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Validate, store and describe one upload; returns the result item."""
    wire = parse_upload(task)
    service = ctx.service
    # Off the loop: hashing a frame with a 50 MB base64 image takes a while.
    task_fingerprint = await asyncio.to_thread(fingerprint, task)
    existing = service.find(wire.taskUUID, task_fingerprint)
    if existing is not None:
        record = existing if isinstance(existing, TaskRecord) else existing.record
        return dict(record.results[0]) if record.results else _pending(wire.taskUUID)
    data = await reference_bytes(
        wire.image, storage=service.storage, settings=ctx.settings, parameter="image"
    )
    extension, media_type = await asyncio.to_thread(_check, data, ctx.settings.max_pixels)
    image_uuid = str(uuid.uuid4())
    name = f"{image_uuid}{extension}"
    expires_at = time.time() + ctx.settings.upload_ttl
    await asyncio.to_thread(
        service.storage.put_file, FileKind.IMAGE, image_uuid, name, data, media_type, expires_at
    )
    item = {
        "taskType": "imageUpload",
        "taskUUID": wire.taskUUID,
        "imageUUID": image_uuid,
        "imageURL": f"{base_url}/v1/outputs/{name}",
    }
    record = TaskRecord(wire.taskUUID, "imageUpload", fingerprint=task_fingerprint, results=[item])
    transition(record, TaskStatus.RUNNING)
    transition(record, TaskStatus.SUCCESS)
    service.storage.create_task(record)
    return item


def _check(data: bytes, limit: int) -> tuple[str, str]:
    """Decode fully (limits, truncation) and name the file after its real format."""
    open_image(data, limit=limit)
    with Image.open(io.BytesIO(data)) as image:
        fmt = image.format or "PNG"
    return _EXTENSIONS.get(fmt, ".img"), Image.MIME.get(fmt, "application/octet-stream")


def _pending(task_uuid: str) -> dict[str, Any]:
    return {"taskType": "imageUpload", "taskUUID": task_uuid, "status": "processing"}
