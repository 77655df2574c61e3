"""Edit operations: exact whole-pixel moves, alpha-correct resampling, untouched layers left alone."""

import numpy as np
import pytest
from PIL import Image

from shared_data import DESIGNS
from strata.editing import for_export, ops, visible_composite
from strata.errors import InvalidParameter
from strata.imaging.compose import over_uint8
from strata.layers import LayerStack
from strata.library import open_layers

DESIGN = DESIGNS / "psdrb-example.psd"


@pytest.fixture(scope="module")
def design() -> LayerStack:
    """A real designer's PSD: matte background, a logo glyph, a line of text (900x600)."""
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not available")
    return open_layers(DESIGN)


def shape_on(colour_under: tuple[int, int, int], size=(64, 48), box=(20, 12, 36, 30)) -> Image.Image:
    """An opaque red rectangle on fully transparent pixels whose hidden colour is ``colour_under``."""
    pixels = np.zeros((size[1], size[0], 4), np.uint8)
    pixels[..., :3] = colour_under
    pixels[box[1] : box[3], box[0] : box[2]] = (255, 0, 0, 255)
    return Image.fromarray(pixels, "RGBA")


def two_layers(top: Image.Image) -> LayerStack:
    return LayerStack([Image.new("RGBA", top.size, (255, 255, 255, 255)), top])


def untouched(before: LayerStack, after: LayerStack, skip: int) -> bool:
    return all(a is b for i, (a, b) in enumerate(zip(before.layers, after.layers, strict=True)) if i != skip)


@pytest.mark.parametrize(("dx", "dy"), [(10, -5), (-37, 22), (0, 0), (400, 3)])
def test_whole_pixel_move_is_exact(design, dx, dy):
    before = [a.copy() for a in design.arrays()]
    moved = ops.move(design, 1, dx, dy)
    old, new = before[1], np.asarray(moved.layers[1])
    height, width = old.shape[:2]
    expected = np.zeros_like(old)
    for y in range(max(0, -dy), min(height, height - dy)):
        expected[y + dy, max(0, dx) : width + min(0, dx)] = old[y, max(0, -dx) : width - max(0, dx)]
    assert np.array_equal(new, expected)
    assert untouched(design, moved, 1)
    assert all(np.array_equal(a, b) for a, b in zip(before, design.arrays(), strict=True)), "input changed"


def test_move_accepts_integral_floats_from_json(design):
    assert np.array_equal(
        np.asarray(ops.move(design, 2, 4.0, -3.0).layers[2]), ops.move(design, 2, 4, -3).arrays()[2]
    )


def test_half_pixel_move_has_no_fringe_from_hidden_colour():
    moved = ops.move(two_layers(shape_on((0, 255, 0))), 1, 0.5, 0.25)
    pixels = np.asarray(moved.layers[1]).astype(int)
    seen = pixels[..., 3] > 0
    assert (pixels[seen][:, :3] == (255, 0, 0)).all(), "green from transparent pixels leaked in"
    assert 0.98 < pixels[..., 3].sum() / (16 * 18 * 255) < 1.02, "coverage not preserved"
    edge = pixels[20, 20:22, 3]
    assert 100 < edge[0] < 160 and edge[1] == 255, "a half-pixel move should give a half-covered edge"


@pytest.mark.parametrize("factor", [0.5, 0.3, 1.7, 3.0])
def test_scale_resamples_premultiplied(factor):
    stack = two_layers(shape_on((0, 255, 0), size=(200, 160), box=(80, 60, 120, 100)))
    scaled = ops.scale(stack, 1, factor)
    pixels = np.asarray(scaled.layers[1]).astype(int)
    seen = pixels[..., 3] > 0
    assert (np.abs(pixels[seen][:, :3] - (255, 0, 0)) <= 1).all(), "colour bled from transparent pixels"
    area = pixels[..., 3].sum() / 255
    assert area == pytest.approx(40 * 40 * factor**2, rel=0.03)
    box = scaled.layers[1].getchannel("A").point(lambda a: 255 if a > 127 else 0).getbbox()
    half = 20 * factor
    assert box == pytest.approx((100 - half, 80 - half, 100 + half, 80 + half), abs=1.01)
    assert scaled.layers[0] is stack.layers[0]


def test_scale_about_a_point_keeps_that_point():
    stack = two_layers(shape_on((0, 0, 0), size=(200, 160), box=(80, 60, 120, 100)))
    scaled = ops.scale(stack, 1, 2.0, 0.5, cx=80, cy=60)
    box = scaled.layers[1].getchannel("A").point(lambda a: 255 if a > 127 else 0).getbbox()
    assert box == (80, 60, 160, 80)


def test_scale_by_one_changes_no_visible_pixel(design):
    before, after = design.arrays()[1], ops.scale(design, 1, 1.0).arrays()[1]
    seen = before[..., 3] > 0
    assert np.array_equal(after[..., 3], before[..., 3])
    assert np.array_equal(after[seen], before[seen])


def test_rotate_quarter_turn_clockwise_matches_exact_rotation():
    pixels = np.zeros((41, 41, 4), np.uint8)
    pixels[10:20, 20:31] = (0, 0, 255, 255)  # a block right of and above the centre (20.5, 20.5)
    stack = two_layers(Image.fromarray(pixels, "RGBA"))
    rotated = np.asarray(ops.rotate(stack, 1, 90, cx=20.5, cy=20.5).layers[1]).astype(int)
    # Clockwise on screen (y down): what was up-right ends down-right; np.rot90 with k=-1 turns clockwise.
    assert np.abs(rotated - np.rot90(pixels, k=-1).astype(int)).max() <= 1


def test_rotate_keeps_colour_and_coverage(design):
    rotated = np.asarray(ops.rotate(two_layers(shape_on((0, 255, 0))), 1, 33).layers[1]).astype(int)
    seen = rotated[..., 3] > 0
    assert (np.abs(rotated[seen][:, :3] - (255, 0, 0)) <= 1).all()
    assert rotated[..., 3].sum() / 255 == pytest.approx(16 * 18, rel=0.02)


def test_hue_shift_turns_red_green_and_keeps_alpha(design):
    stack = two_layers(shape_on((0, 0, 0)))
    shifted = np.asarray(ops.hue_shift(stack, 1, 120).layers[1])
    assert tuple(shifted[15, 25]) == (0, 255, 0, 255)
    assert np.array_equal(shifted[..., 3], np.asarray(stack.layers[1])[..., 3])
    full_turn = ops.hue_shift(design, 1, 360).arrays()[1].astype(int)
    assert np.abs(full_turn - design.arrays()[1]).max() <= 1


def test_tint_flat_shape_becomes_the_colour():
    tinted = np.asarray(ops.tint(two_layers(shape_on((0, 0, 0))), 1, (30, 144, 255)).layers[1])
    assert tuple(tinted[15, 25]) == (30, 144, 255, 255)
    assert tuple(tinted[0, 0]) == (0, 0, 0, 0), "transparent pixels are left as they were"


def test_tint_keeps_shading():
    ramp = np.zeros((8, 64, 4), np.uint8)
    ramp[..., :3] = np.linspace(40, 220, 64).astype(np.uint8)[None, :, None]
    ramp[..., 3] = 255
    tinted = np.asarray(ops.tint(two_layers(Image.fromarray(ramp, "RGBA")), 1, (200, 30, 30)).layers[1])
    luma = tinted[4, :, :3] @ np.array([0.2126, 0.7152, 0.0722])
    assert (np.diff(luma) >= -0.5).all() and luma[-1] - luma[0] > 100, "light and shadow kept"
    assert tinted[4, 32, 0] > tinted[4, 32, 1] + 60, "and the colour is now red"


def test_brightness_contrast():
    stack = two_layers(Image.new("RGBA", (4, 4), (100, 150, 200, 128)))
    assert ops.brightness_contrast(stack, 1).arrays()[1][0, 0].tolist() == [100, 150, 200, 128]
    brighter = ops.brightness_contrast(stack, 1, brightness=0.2, contrast=2.0).arrays()[1][0, 0]
    expected = [round(min(max((v / 255 - 0.5) * 2 + 0.5 + 0.2, 0), 1) * 255) for v in (100, 150, 200)]
    assert brighter.tolist() == [*expected, 128]


def test_visibility_and_opacity_are_properties_applied_on_export(design):
    edited = ops.set_opacity(ops.set_visible(design, 2, False), 1, 0.5)
    assert all(a is b for a, b in zip(edited.layers, design.layers, strict=True)), "pixels untouched"
    shown = for_export(edited)
    assert shown.names == design.names[:2]
    assert shown.layers[0] is design.layers[0]
    alpha = shown.arrays()[1][..., 3].astype(int)
    assert np.abs(alpha - np.rint(design.arrays()[1][..., 3] * 0.5)).max() == 0
    assert np.array_equal(np.asarray(visible_composite(edited)), over_uint8(shown.arrays()))
    again = ops.set_opacity(ops.set_visible(edited, 2, True), 1, 1.0)
    assert np.array_equal(np.asarray(visible_composite(again)), np.asarray(design.composite()))


def test_structure_operations_keep_layer_objects(design):
    a, b, c = design.layers
    assert ops.delete(design, 1).layers == [a, c]
    assert ops.reorder(design, 0, 2).layers == [b, c, a]
    duplicated = ops.duplicate(design, 1)
    assert duplicated.layers[:2] == [a, b] and duplicated.layers[3] is c
    assert np.array_equal(np.asarray(duplicated.layers[2]), np.asarray(b))
    assert duplicated.names[2] == f"{design.names[1]} copy"
    assert ops.rename(design, 2, "caption").names == [*design.names[:2], "caption"]


def test_reorder_carries_properties(design):
    hidden = ops.reorder(ops.set_visible(design, 2, False), 2, 0)
    assert hidden.metadata["hidden"] == [True, False, False]
    assert for_export(hidden).layers == design.layers[:2]


def test_merge_down_keeps_the_composite(design):
    merged = ops.merge_down(design, 2)
    assert len(merged) == 2 and merged.layers[0] is design.layers[0]
    diff = np.abs(np.asarray(merged.composite()).astype(int) - np.asarray(design.composite()).astype(int))
    assert diff.max() <= 1


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda s: ops.move(s, 3, 1, 1), "layer"),
        (lambda s: ops.delete(ops.delete(ops.delete(s, 0), 0), 0), None),
        (lambda s: ops.merge_down(s, 0), "layer"),
        (lambda s: ops.scale(s, 1, 0), "sx"),
        (lambda s: ops.set_opacity(s, 1, 1.5), "opacity"),
        (lambda s: ops.reorder(s, 1, 7), "to"),
        (lambda s: ops.tint(s, 1, (1, 2, 3), strength=2), "strength"),
        # NaN, infinity and absurd centres used to reach the resampler's int() as a traceback.
        (lambda s: ops.move(s, 1, float("nan"), 0), "dx"),
        (lambda s: ops.move(s, 1, 0, float("inf")), "dy"),
        (lambda s: ops.scale(s, 1, 2, cx=float("nan")), "cx"),
        (lambda s: ops.scale(s, 1, 2, cy=1e308), "cy"),
        (lambda s: ops.rotate(s, 1, 30, cy=float("inf")), "cy"),
        (lambda s: ops.hue_shift(s, 1, float("nan")), "degrees"),
        (lambda s: ops.tint(s, 1, (300, 0, 0)), "color"),
    ],
)
def test_bad_arguments_are_clear_errors(design, call, parameter):
    with pytest.raises(InvalidParameter) as info:
        call(design)
    assert info.value.parameter == parameter
    assert "\n" not in info.value.message
