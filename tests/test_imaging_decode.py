"""Decoding untrusted input: every mode normalised, every bad input a clear StrataError."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from strata.errors import InvalidInput, LimitExceeded
from strata.imaging.decode import open_image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming a huge canvas, with a tiny compressed body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def gradient() -> Image.Image:
    y, x = np.mgrid[0:48, 0:64]
    return Image.fromarray(np.stack([x * 4, y * 5, (x + y) * 2], -1).astype(np.uint8))


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("L", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("CMYK", "TIFF"), ("RGB", "JPEG"), ("LA", "PNG")],
)
def test_modes_become_rgb(gradient, mode, fmt):
    image = open_image(encode(gradient.convert(mode), fmt))
    assert image.mode == "RGB"
    assert image.size == (64, 48)


def test_sixteen_bit_grey_keeps_its_range():
    ramp = (np.arange(64, dtype=np.uint32)[None, :].repeat(8, 0) * 1040).astype(np.uint16)
    image = open_image(encode(Image.fromarray(ramp)))
    grey = np.asarray(image)[..., 0]
    assert image.mode == "RGB"
    assert grey[0, 0] == 0 and grey[0, -1] >= 250
    assert np.all(np.diff(grey[0].astype(int)) >= 0)


def test_big_endian_sixteen_bit_tiff_reads_like_little_endian():
    # Pillow opens a big-endian 16-bit grey TIFF as I;16B, which point() refuses.
    import tifffile

    ramp = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    decoded = []
    for byteorder in (">", "<"):
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, ramp, byteorder=byteorder, photometric="minisblack")
        decoded.append(np.asarray(open_image(buffer.getvalue())))
    np.testing.assert_array_equal(decoded[0], decoded[1])
    assert decoded[0][0, 0].tolist() == [0, 0, 0] and decoded[0][-1, -1].tolist() == [255, 255, 255]


def test_premultiplied_grey_alpha_image_is_unpremultiplied():
    image = open_image(Image.new("La", (2, 2), (100, 128)))
    assert image.mode == "RGBA" and image.getpixel((0, 0)) == (199, 199, 199, 128)


def test_transparency_is_kept(gradient):
    rgba = gradient.convert("RGBA")
    rgba.putpixel((3, 3), (10, 20, 30, 0))
    image = open_image(encode(rgba))
    assert image.mode == "RGBA"
    assert image.getpixel((3, 3))[3] == 0


def test_opaque_rgba_is_treated_as_rgb(gradient):
    assert open_image(encode(gradient.convert("RGBA"))).mode == "RGB"


def test_exif_orientation_is_applied(gradient):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    image = open_image(encode(gradient, "JPEG", exif=exif.tobytes()))
    assert image.size == (48, 64)


def test_a_callers_image_is_oriented_in_a_copy(gradient):
    exif = Image.Exif()
    exif[0x0112] = 6
    theirs = Image.open(io.BytesIO(encode(gradient, "PNG", exif=exif.tobytes())))
    theirs.load()
    before = theirs.tobytes()
    ours = open_image(theirs)
    assert ours.size == (48, 64) and ours is not theirs
    assert theirs.size == (64, 48) and theirs.getexif()[0x0112] == 6 and theirs.tobytes() == before
    same_mode = gradient.copy()
    assert open_image(same_mode) is not same_mode


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", InvalidInput),
        (b"definitely not an image", InvalidInput),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 10, InvalidInput),
    ],
)
def test_bad_bytes(data, error):
    with pytest.raises(error):
        open_image(data)


def test_truncated_png_and_jpeg(gradient):
    for fmt in ("PNG", "JPEG"):
        data = encode(gradient, fmt)
        with pytest.raises(InvalidInput, match=r"truncated|corrupt"):
            open_image(data[: len(data) // 2])


def test_decompression_bomb_refused_before_decoding():
    with pytest.raises(LimitExceeded, match="limit"):
        open_image(png_header_only(50000, 50000))
    with pytest.raises(LimitExceeded, match="9000x9000"):
        open_image(png_header_only(9000, 9000))


def test_custom_limit(gradient):
    with pytest.raises(LimitExceeded):
        open_image(encode(gradient), limit=100)


def test_missing_file(tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        open_image(tmp_path / "nope.png")
    with pytest.raises(InvalidInput, match="directory"):
        open_image(tmp_path)
