"""Inline image references: data URIs and bare base64, decoded with a size limit."""

from __future__ import annotations

import base64
import io
from urllib.parse import quote_from_bytes

import numpy as np
import pytest
from PIL import Image

from strata.errors import StrataError
from strata.net import decode_data_uri_or_base64


def png_bytes() -> bytes:
    # Noise, so the PNG is a few hundred bytes and not a trivially small file.
    pixels = np.random.default_rng(7).integers(0, 256, (12, 24, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


PNG_BYTES = png_bytes()
B64 = base64.b64encode(PNG_BYTES).decode()


@pytest.mark.parametrize(
    "value",
    [
        f"data:image/png;base64,{B64}",
        f"DATA:image/png;BASE64,{B64}",
        f"data:image/png;name=x.png;base64,{B64}",
        B64,
        B64.rstrip("="),
        "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76)),  # MIME line breaks
        base64.urlsafe_b64encode(PNG_BYTES).decode(),
        "data:image/png," + quote_from_bytes(PNG_BYTES),
    ],
    ids=["uri", "upper", "params", "bare", "unpadded", "wrapped", "urlsafe", "percent"],
)
def test_every_form_decodes_to_the_same_image(value: str) -> None:
    data = decode_data_uri_or_base64(value, max_bytes=1 << 20)
    assert data == PNG_BYTES
    assert Image.open(io.BytesIO(data)).size == (24, 12)


@pytest.mark.parametrize(
    "value",
    ["data:image/png;base64", "not base64 at all!", "", "data:image/png;base64,", "ümlaut"],
)
def test_malformed_values_are_invalid_input(value: str) -> None:
    with pytest.raises(StrataError) as caught:
        decode_data_uri_or_base64(value, max_bytes=1 << 20)
    assert caught.value.code == "invalidImage"


def test_size_limit_applies_before_and_after_decoding() -> None:
    assert len(PNG_BYTES) > 1000
    with pytest.raises(StrataError, match="larger than the limit of 100 bytes") as caught:
        decode_data_uri_or_base64(B64, max_bytes=100)
    assert caught.value.code == "imageTooLarge"
    percent = "data:image/png," + quote_from_bytes(PNG_BYTES)
    with pytest.raises(StrataError) as caught:
        decode_data_uri_or_base64(percent, max_bytes=100)
    assert caught.value.code == "imageTooLarge"
    exact = decode_data_uri_or_base64(B64, max_bytes=len(PNG_BYTES))
    assert exact == PNG_BYTES
