"""Every exporter round-trips: files are read back by an independent reader and compared pixel by pixel.

The test stack is built from a real poster crop plus anti-aliased shapes with partial alpha, a
semi-transparent panel, and a fully transparent layer whose (undefined) colour is random garbage.
"""

import io
import json
import zipfile
from xml.etree import ElementTree

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageDraw, ImageFilter
from pptx import Presentation
from pptx.util import Inches
from psd_tools import PSDImage

from shared_data import POSTERS
from strata.errors import InvalidInput, InvalidParameter, LimitExceeded, OutputError
from strata.exporters import FORMATS, export_to_path, layer_file_name, render, render_all
from strata.exporters import ora as ora_format
from strata.exporters import pptx as pptx_format
from strata.exporters import tiff as tiff_format
from strata.exporters.readers import read_stack
from strata.layers import LayerStack

POSTER = POSTERS / "qwen-demo-2.png"
SIZE = (184, 120)


def _shape_layer(draw_shape, colour) -> Image.Image:
    """A shape drawn at 4x and downscaled: anti-aliased rims with every alpha level."""
    big = Image.new("L", (SIZE[0] * 4, SIZE[1] * 4), 0)
    draw_shape(ImageDraw.Draw(big))
    alpha = big.resize(SIZE, Image.Resampling.LANCZOS)
    layer = Image.new("RGBA", SIZE, colour)
    layer.putalpha(alpha)
    return layer


@pytest.fixture(scope="module")
def stack() -> LayerStack:
    background = Image.open(POSTER).convert("RGBA").crop((300, 500, 300 + SIZE[0], 500 + SIZE[1]))
    disc = _shape_layer(lambda d: d.ellipse((60, 40, 420, 380), fill=255), (231, 76, 60, 0))
    panel = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    ImageDraw.Draw(panel).rounded_rectangle((90, 20, 170, 100), 12, fill=(20, 40, 200, 128))
    ImageDraw.Draw(panel).text((100, 50), "strata", fill=(255, 255, 255, 255))
    photo = Image.open(POSTER).convert("RGBA").crop((600, 900, 600 + SIZE[0], 900 + SIZE[1]))
    ramp = np.tile(np.linspace(0, 255, SIZE[0]).astype(np.uint8), (SIZE[1], 1))
    ramp[:, : SIZE[0] // 3] = 0
    photo.putalpha(Image.fromarray(ramp).filter(ImageFilter.GaussianBlur(2)))
    garbage = np.random.default_rng(7).integers(0, 256, (SIZE[1], SIZE[0], 4), dtype=np.uint8)
    garbage[..., 3] = 0
    empty = Image.fromarray(garbage, "RGBA")
    return LayerStack(
        [background, disc, empty, panel, photo],
        names=["background", "red disc", "nothing", "blue panel", "photo fade"],
        metadata={"engine": "test", "seconds": 0.25},
    )


def assert_layers_equal(expected: Image.Image, actual: Image.Image, colour_tolerance: float = 0) -> None:
    """Alpha must match exactly everywhere; colour where alpha > 0 (it is undefined elsewhere)."""
    want, got = np.asarray(expected.convert("RGBA")), np.asarray(actual.convert("RGBA"))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got[..., 3], want[..., 3])
    visible = want[..., 3] > 0
    diff = np.abs(got[..., :3].astype(int) - want[..., :3].astype(int))[visible]
    assert (diff.max() if diff.size else 0) <= colour_tolerance


def test_stack_has_partial_and_empty_alpha(stack):
    alphas = [np.asarray(layer)[..., 3] for layer in stack.layers]
    assert alphas[0].min() == 255
    assert len(np.unique(alphas[1])) > 50  # anti-aliased rim
    assert alphas[2].max() == 0
    assert alphas[3].max() > 0 and 128 in alphas[3]


# --- one file per layer ---------------------------------------------------------------------------


def test_png_layers_read_back_by_pillow_bit_exact(stack):
    files = render(stack, FORMATS["png"])
    assert list(files) == [f"layer_{i:02d}.png" for i in range(len(stack))]
    for layer, data in zip(stack.layers, files.values(), strict=True):
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and image.mode == "RGBA"
        # PNG keeps even the colour under transparent pixels.
        np.testing.assert_array_equal(np.asarray(image), np.asarray(layer))


def test_webp_lossless_read_back_by_pillow_bit_exact(stack):
    for layer, data in zip(stack.layers, render(stack, FORMATS["webp"]).values(), strict=True):
        image = Image.open(io.BytesIO(data))
        assert image.format == "WEBP"
        assert_layers_equal(layer, image)


def test_webp_lossy_within_quality_bound_and_smaller(stack):
    lossless = render(stack, FORMATS["webp"])
    for quality, bound in [(90, 6.0), (50, 12.0)]:
        lossy = render(stack, FORMATS["webp"], quality=quality)
        assert sum(map(len, lossy.values())) < sum(map(len, lossless.values()))
        for layer, data in zip(stack.layers, lossy.values(), strict=True):
            want, got = (
                np.asarray(layer).astype(float),
                np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")),
            )
            np.testing.assert_array_equal(got[..., 3], want[..., 3])  # alpha stays lossless
            opaque = want[..., 3] == 255
            if opaque.any():
                error = np.abs(got[..., :3] - want[..., :3])[opaque].mean()
                assert error <= bound, (quality, error)


def test_webp_wider_than_its_limit_is_a_clear_error():
    wide = LayerStack([Image.new("RGBA", (16384, 2), (1, 2, 3, 255))])
    with pytest.raises(InvalidParameter, match="at most 16383 pixels per side"):
        render(wide, FORMATS["webp"])
    edge = LayerStack([Image.new("RGBA", (16383, 1), (1, 2, 3, 255))])
    (data,) = render(edge, FORMATS["webp"]).values()
    assert Image.open(io.BytesIO(data)).size == (16383, 1)


def test_webp_quality_out_of_range_is_refused(stack):
    with pytest.raises(Exception, match="0-100"):
        render(stack, FORMATS["webp"], quality=101)


# --- single-file formats --------------------------------------------------------------------------


def test_tiff_pages_read_back_by_tifffile_and_pillow(stack):
    data = FORMATS["tiff"].module.to_bytes(stack)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert len(tif.pages) == len(stack)
        for page, layer in zip(tif.pages, stack.layers, strict=True):
            assert page.shape == (SIZE[1], SIZE[0], 4)
            assert page.extrasamples == (tifffile.EXTRASAMPLE.UNASSALPHA,)
            assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
            np.testing.assert_array_equal(page.asarray(), np.asarray(layer))
    image = Image.open(io.BytesIO(data))
    for index, layer in enumerate(stack.layers):
        image.seek(index)
        assert_layers_equal(layer, image)


@pytest.mark.parametrize(
    ("options", "threaded"),
    [
        ({}, False),
        ({"level": 1, "workers": 2}, False),
        ({"level": 1, "workers": 2}, True),
        ({"compression": "none"}, False),
    ],
)
def test_tiff_strips_of_nothing_read_back_exactly(stack, options, threaded, monkeypatch):
    """Empty strips share one deflated copy; the short last strip and a page of nothing included."""
    if threaded:  # as a large page is: its strips deflated on the worker threads
        monkeypatch.setattr(tiff_format, "_THREADED", 0)
    width, height = SIZE[0], 3 * 32 + 5  # three whole strips and a short one
    band = np.zeros((height, width, 4), np.uint8)
    band[40:50] = np.asarray(stack.layers[1])[40:50]  # only the second strip has pixels
    band[-1, -1] = (9, 8, 7, 6)  # and one pixel of the short last strip
    nothing = np.zeros_like(band)
    background = np.asarray(stack.layers[0].resize((width, height)))
    layers = [Image.fromarray(array, "RGBA") for array in (background, band, nothing)]
    data = FORMATS["tiff"].module.to_bytes(LayerStack(layers), **options)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert [page.asarray().tobytes() for page in tif.pages] == [layer.tobytes() for layer in layers]
    image = Image.open(io.BytesIO(data))
    for index, layer in enumerate(layers):
        image.seek(index)
        assert image.convert("RGBA").tobytes() == layer.tobytes()


def test_tiff_reader_handles_planar_pages_and_refuses_other_colour_models(stack):
    # Other tools may store one plane per sample; CMYK or palette samples are not RGB to copy.
    pixels = np.asarray(stack.layers[4])
    planar = io.BytesIO()
    tifffile.imwrite(
        planar,
        np.moveaxis(pixels, -1, 0).copy(),
        photometric="rgb",
        planarconfig="separate",
        extrasamples=("unassalpha",),
    )
    (layer,) = FORMATS["tiff"].module.read(planar.getvalue()).layers
    np.testing.assert_array_equal(np.asarray(layer), pixels)
    cmyk = io.BytesIO()
    tifffile.imwrite(cmyk, pixels, photometric="separated")
    with pytest.raises(InvalidInput, match="unsupported TIFF colour model SEPARATED"):
        FORMATS["tiff"].module.read(cmyk.getvalue())


def test_zip_holds_pngs_and_manifest(stack):
    data = FORMATS["zip"].module.to_bytes(stack)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["canvas"] == {"width": SIZE[0], "height": SIZE[1]}
        assert manifest["order"] == "back-to-front"
        assert manifest["metadata"] == {"engine": "test", "seconds": 0.25}
        assert [entry["name"] for entry in manifest["layers"]] == stack.names
        for entry, layer in zip(manifest["layers"], stack.layers, strict=True):
            image = Image.open(io.BytesIO(archive.read(entry["file"])))
            np.testing.assert_array_equal(np.asarray(image), np.asarray(layer))
            ys, xs = np.nonzero(np.asarray(layer)[..., 3])
            expected_box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if xs.size else None
            assert entry["bbox"] == (None if expected_box is None else [int(v) for v in expected_box])


def test_psd_read_back_by_psd_tools(stack):
    document = PSDImage.open(io.BytesIO(FORMATS["psd"].module.to_bytes(stack)))
    assert document.size == SIZE
    layers = list(document)
    assert [layer.name for layer in layers] == stack.names
    for psd_layer, layer in zip(layers, stack.layers, strict=True):
        assert psd_layer.kind == "pixel" and psd_layer.visible and psd_layer.opacity == 255
        canvas = Image.new("RGBA", SIZE, (0, 0, 0, 0))
        if psd_layer.bbox != (0, 0, 0, 0):
            canvas.paste(psd_layer.topil(), psd_layer.bbox[:2])
        assert_layers_equal(layer, canvas)


@pytest.mark.parametrize("opaque", [True, False])
def test_psd_merged_image_is_the_composite_with_its_alpha(stack, opaque):
    """What viewers without layers show: the stack's composite, transparency included, and what
    psd-tools itself renders from the layers, to rounding."""
    if not opaque:  # without the background, the composite is partly transparent
        stack = LayerStack(stack.layers[1:], names=stack.names[1:])
    document = PSDImage.open(io.BytesIO(FORMATS["psd"].module.to_bytes(stack)))
    merged = np.rint(document.numpy() * 255).astype(int)  # the stored merged image
    expected = np.asarray(stack.composite()).astype(int)
    alpha = expected[..., 3]
    assert (alpha < 255).any() != opaque
    assert np.array_equal(merged[..., 3], alpha)
    assert np.array_equal(merged[alpha == 255], expected[alpha == 255])
    # PSD stores a transparent merged image matted over white in 8 bits: its colour comes back
    # within one level once multiplied by the alpha.
    error = np.abs(merged[..., :3] - expected[..., :3]) * alpha[..., None] / 255
    assert error.max() <= 1
    rendered = np.asarray(document.composite(force=True)).astype(int)
    shown = alpha > 0  # psd-tools leaves the colour of transparent pixels its own
    assert np.abs(rendered[shown] - expected[shown]).max() <= 2


def test_psd_layers_are_cropped_to_their_pixels(stack):
    document = PSDImage.open(io.BytesIO(FORMATS["psd"].module.to_bytes(stack)))
    assert [layer.bbox for layer in document] == [box or (0, 0, 0, 0) for box in stack.bounding_boxes()]


def test_non_ascii_and_long_layer_names_survive_tiff_and_psd(stack):
    # Names come from users' PSDs (``strata compose``, the editor): German, Chinese, very long.
    names = ["Überschrift €", "标题 2", "x" * 300, "photo", "a<b&c"]
    named = LayerStack(stack.layers, names=names)
    with tifffile.TiffFile(io.BytesIO(FORMATS["tiff"].module.to_bytes(named))) as tif:
        assert [page.tags[285].value for page in tif.pages] == names
    document = PSDImage.open(io.BytesIO(FORMATS["psd"].module.to_bytes(named)))
    assert [layer.name for layer in document] == [*names[:2], "x" * 255, *names[3:]]


def test_psd_wider_than_the_spec_allows_is_a_clear_error():
    wide = LayerStack([Image.new("RGBA", (30001, 1), (1, 2, 3, 255))])
    with pytest.raises(InvalidParameter, match="at most 30000 pixels per side"):
        FORMATS["psd"].module.to_bytes(wide)


def test_render_all_encodes_every_format_as_render_does(stack):
    formats = [FORMATS[name] for name in ("png", "tiff", "psd", "zip", "ora", "pptx", "webp")]
    files = render_all(stack, formats, {"webp": {"quality": 80}})
    expected = {}
    for fmt in formats:
        expected.update(render(stack, fmt, **({"quality": 80} if fmt.name == "webp" else {})))
    assert files.keys() == expected.keys()
    # Byte for byte, except the archives' timestamps: read back, they are the same layers.
    for name in ("layers.tiff", "layers.psd", "layer_00.png", "layer_03.webp"):
        assert files[name] == expected[name]
    assert read_stack_bytes(files["layers.zip"]) == read_stack_bytes(expected["layers.zip"])
    # PNG, ZIP and PPTX share one encoding of each layer: the same bytes in each file.
    pngs = [files[layer_file_name(index, FORMATS["png"])] for index in range(len(stack))]
    with zipfile.ZipFile(io.BytesIO(files["layers.zip"])) as archive:
        assert [archive.read(name) for name in sorted(archive.namelist()) if name.endswith(".png")] == pngs
    deck = Presentation(io.BytesIO(files["layers.pptx"]))
    assert [shape.image.blob for shape in deck.slides[0].shapes] == pngs
    # ORA stores each layer cropped to its pixels: the background covers the canvas, so it is shared.
    assert stack.bounding_boxes()[0] == (0, 0, *stack.size)
    with zipfile.ZipFile(io.BytesIO(files["layers.ora"])) as archive:
        assert archive.read("data/layer_00.png") == pngs[0]
    assert read_stack_bytes(files["layers.ora"], "ora") == read_stack_bytes(expected["layers.ora"], "ora")


def test_render_all_shares_no_png_encoded_with_other_options(stack):
    files = render_all(stack, [FORMATS["png"], FORMATS["zip"]], {"png": {"compress_level": 1}})
    assert files["layer_00.png"] == render(stack, FORMATS["png"], compress_level=1)["layer_00.png"]
    assert read_stack_bytes(files["layers.zip"]) == [np.asarray(layer).tobytes() for layer in stack.layers]


def test_render_all_raises_the_first_error():
    wide = LayerStack([Image.new("RGBA", (30001, 1), (1, 2, 3, 255))])
    with pytest.raises(InvalidParameter, match="at most 30000 pixels per side"):
        render_all(wide, [FORMATS["tiff"], FORMATS["psd"], FORMATS["png"]])


def read_stack_bytes(data: bytes, name: str = "zip") -> list[bytes]:
    return [np.asarray(layer).tobytes() for layer in FORMATS[name].module.read(data).layers]


def test_ora_structure_follows_the_spec(stack):
    data = ora_format.to_bytes(stack)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        first = archive.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert archive.read("mimetype") == b"image/openraster"
        # The mimetype sits at a fixed offset so that `file` can sniff it: no extra field in the header.
        assert data[30:38] == b"mimetype" and data[38:54] == b"image/openraster"
        image = ElementTree.fromstring(archive.read("stack.xml"))
        assert (image.get("w"), image.get("h")) == (str(SIZE[0]), str(SIZE[1]))
        elements = list(image.find("stack"))
        assert [e.get("name") for e in elements] == stack.names[::-1]  # top-most first
        for element, layer in zip(reversed(elements), stack.layers, strict=True):
            canvas = Image.new("RGBA", SIZE, (0, 0, 0, 0))
            canvas.paste(
                Image.open(io.BytesIO(archive.read(element.get("src")))),
                (int(element.get("x")), int(element.get("y"))),
            )
            assert_layers_equal(layer, canvas)
        merged = Image.open(io.BytesIO(archive.read("mergedimage.png")))
        np.testing.assert_array_equal(np.asarray(merged), np.asarray(stack.composite()))
        thumbnail = Image.open(io.BytesIO(archive.read("Thumbnails/thumbnail.png")))
        assert max(thumbnail.size) <= 256


@pytest.mark.parametrize("name", ["ora", "pptx", "psd", "tiff"])
def test_control_characters_and_lone_surrogates_in_names_stay_readable(stack, name):
    # Names reach exporters from users (PSD files, the editor's rename); XML and UTF-8 forbid these.
    names = ["back\x01ground", "tab\tand\nnewline", "half \ud800 pair", "panel", "photo"]
    data = FORMATS[name].module.to_bytes(LayerStack(stack.layers, names=names))
    back = FORMATS[name].module.read(data).names
    assert back[0] == "back\ufffdground" and back[2] == "half \ufffd pair" and back[3:] == names[3:]
    if name == "ora":
        assert back[1] == names[1]


def test_ora_thumbnail_is_at_most_256(stack):
    big = LayerStack([layer.resize((SIZE[0] * 3, SIZE[1] * 3)) for layer in stack.layers[:2]])
    with zipfile.ZipFile(io.BytesIO(ora_format.to_bytes(big))) as archive:
        thumbnail = Image.open(io.BytesIO(archive.read("Thumbnails/thumbnail.png")))
    assert max(thumbnail.size) == 256


def test_pptx_one_full_slide_picture_per_layer(stack):
    deck = Presentation(io.BytesIO(FORMATS["pptx"].module.to_bytes(stack)))
    assert abs(deck.slide_width / deck.slide_height - SIZE[0] / SIZE[1]) < 1e-4
    (slide,) = deck.slides
    pictures = list(slide.shapes)
    assert [p.name for p in pictures] == stack.names  # z-order: first shape is at the back
    for picture, layer in zip(pictures, stack.layers, strict=True):
        assert (picture.left, picture.top, picture.width, picture.height) == (
            0,
            0,
            deck.slide_width,
            deck.slide_height,
        )
        assert_layers_equal(layer, Image.open(io.BytesIO(picture.image.blob)))


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1080, 1920), (100, 100), (10000, 50), (1, 200)])
def test_pptx_slide_size_keeps_aspect_within_powerpoint_limits(width, height):
    slide_w, slide_h = pptx_format.slide_size(width, height)
    assert min(slide_w, slide_h) >= 914400 and max(slide_w, slide_h) <= 56 * 914400
    if max(width, height) / min(width, height) <= 56:
        assert abs(slide_w / slide_h - width / height) < 1e-4 * width / height


def test_pptx_reader_places_pictures_a_user_moved(tmp_path):
    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(10), Inches(5)
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    backdrop, badge = Image.new("RGB", (200, 100), (10, 20, 30)), Image.new("RGB", (40, 20), (250, 200, 0))
    for image, left, top, width, height in [(backdrop, 0, 0, 10, 5), (badge, 1, 1, 2, 1)]:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        slide.shapes.add_picture(buffer, Inches(left), Inches(top), Inches(width), Inches(height))
    deck.save(tmp_path / "edited.pptx")
    stack = read_stack(tmp_path / "edited.pptx")
    assert stack.size == (200, 100) and len(stack) == 2
    assert stack.bounding_boxes()[1] == (20, 20, 60, 40)
    assert stack.composite().getpixel((30, 30)) == (250, 200, 0, 255)
    assert stack.composite().getpixel((10, 10)) == (10, 20, 30, 255)


# --- reading back through strata's own readers ----------------------------------------------------


@pytest.mark.parametrize("name", ["tiff", "psd", "zip", "ora", "pptx"])
def test_every_single_file_format_reads_back_into_the_same_stack(stack, name, tmp_path):
    (path,) = export_to_path(stack, tmp_path / f"layers.{name}")
    back = read_stack(path)
    assert back.size == stack.size and back.names == stack.names
    for want, got in zip(stack.layers, back.layers, strict=True):
        assert_layers_equal(want, got)


def test_saving_over_a_folder_or_under_a_file_is_an_output_error(stack, tmp_path):
    (tmp_path / "taken.psd").mkdir()
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OutputError, match="cannot write"):
        stack.save(tmp_path / "taken.psd")
    with pytest.raises(OutputError, match="cannot create output folder"):
        stack.save(tmp_path / "file" / "sub" / "layers.tiff")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "taken.psd"]  # no temporary left


@pytest.mark.parametrize("name", ["png", "webp"])
def test_a_folder_of_layers_reads_back_in_lexical_order(stack, name, tmp_path):
    paths = stack.save(tmp_path / f"out.{name}")
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    back = read_stack(tmp_path / "out")
    assert len(back) == len(stack)
    for want, got in zip(stack.layers, back.layers, strict=True):
        assert_layers_equal(want, got)


def test_folder_with_png_and_webp_copies_uses_the_png(stack, tmp_path):
    stack.save(tmp_path / "both.png")
    stack.save(tmp_path / "both.webp", quality=10)
    back = read_stack(tmp_path / "both")
    assert len(back) == len(stack)
    np.testing.assert_array_equal(np.asarray(back.layers[4]), np.asarray(stack.layers[4]))


def test_readers_reject_bad_files_with_one_clear_error(tmp_path):
    (tmp_path / "empty.psd").write_bytes(b"")
    (tmp_path / "text.zip").write_bytes(b"this is not a zip")
    (tmp_path / "cut.tiff").write_bytes(
        FORMATS["tiff"].module.to_bytes(LayerStack([Image.new("RGBA", (64, 64))]))[:100]
    )
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "nolayers").mkdir()
    for name, message in [
        ("empty.psd", "empty"),
        ("text.zip", "ZIP"),
        ("cut.tiff", "TIFF"),
        ("notes.txt", "cannot read layers"),
        ("nolayers", "no layer images"),
        ("missing.ora", "no such file"),
    ]:
        with pytest.raises(InvalidInput, match=message) as info:
            read_stack(tmp_path / name)
        assert "\n" not in info.value.message


def test_ora_with_a_huge_canvas_is_refused_before_allocating(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "image/openraster")
        archive.writestr("stack.xml", '<image w="50000" h="50000"><stack/></image>')
    (tmp_path / "bomb.ora").write_bytes(buffer.getvalue())
    with pytest.raises(LimitExceeded):
        read_stack(tmp_path / "bomb.ora")
