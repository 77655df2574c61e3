"""Decode inline image references: ``data:`` URIs and bare base64, with a size limit.

The Runware SDKs inline local files as ``data:<mime>;base64,...`` and also accept bare base64, so
both arrive in the same string field. The size is checked from the encoded length before decoding,
so a 1 GB string is refused without allocating its decoded form.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_to_bytes

from strata.errors import InvalidInput, LimitExceeded

_WHITESPACE = re.compile(rb"\s+")


def decode_data_uri_or_base64(value: str, *, max_bytes: int) -> bytes:
    """The bytes encoded in ``value``: a ``data:`` URI (base64 or percent-encoded) or bare base64.

    Raises :class:`~strata.errors.InvalidInput` for malformed input and
    :class:`~strata.errors.LimitExceeded` when the decoded data would exceed ``max_bytes``.

    >>> decode_data_uri_or_base64("data:image/png;base64,aGVsbG8=", max_bytes=100)
    b'hello'
    >>> decode_data_uri_or_base64("aGVsbG8", max_bytes=100)
    b'hello'
    """
    if value[:5].lower() == "data:":
        header, comma, payload = value[5:].partition(",")
        if not comma:
            raise InvalidInput("the data URI has no ',' before its data")
        if header.lower().split(";")[-1].strip() != "base64":
            return _limited(unquote_to_bytes(payload), max_bytes)
        return _decode_base64(payload, max_bytes)
    return _decode_base64(value, max_bytes)


def _decode_base64(text: str, max_bytes: int) -> bytes:
    try:
        raw = _WHITESPACE.sub(b"", text.encode("ascii"))
    except UnicodeEncodeError:
        raise InvalidInput("the image data is not valid base64 (non-ASCII characters)") from None
    if not raw:
        raise InvalidInput("the image data is empty")
    if len(raw) * 3 // 4 > max_bytes + 2:
        raise _too_large(max_bytes)
    raw += b"=" * (-len(raw) % 4)  # clients often drop the padding
    altchars = b"-_" if (b"-" in raw or b"_" in raw) else None  # URL-safe alphabet
    try:
        data = base64.b64decode(raw, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the image data is neither a data URI, a URL, an image UUID nor base64") from None
    return _limited(data, max_bytes)


def _limited(data: bytes, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if not data:
        raise InvalidInput("the image data is empty")
    return data


def _too_large(max_bytes: int) -> LimitExceeded:
    return LimitExceeded(f"the inline image data is larger than the limit of {max_bytes} bytes")
