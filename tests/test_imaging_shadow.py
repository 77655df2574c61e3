"""Soft shadows and glows: found on the page, put under the element that casts them, the page left clean."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from shared_data import load_benchmark
from strata.engines.classic import ClassicEngine
from strata.imaging.compose import reconstruction_error
from strata.imaging.shadow import find_shadows

SIZE = (900, 600)  # width, height
PAGE = np.array([214, 232, 245]) / 255


def coverage(draw: callable) -> np.ndarray:
    """An anti-aliased float mask in [0, 1]: ``draw(ImageDraw, scale)`` at 4 × and box-filtered down."""
    big = Image.new("L", (SIZE[0] * 4, SIZE[1] * 4), 0)
    draw(ImageDraw.Draw(big), 4)
    return np.asarray(big.resize(SIZE, Image.Resampling.BOX), np.float32) / 255


def cast(mask: np.ndarray, offset: tuple[int, int], blur: float, opacity: float) -> np.ndarray:
    """A drop shadow's opacity: the mask shifted by ``offset`` (down, right), blurred, scaled."""
    shifted = np.roll(mask, offset, axis=(0, 1))
    return opacity * ndimage.gaussian_filter(shifted, blur)


def paint(image: np.ndarray, alpha: np.ndarray, colour: tuple[float, ...]) -> np.ndarray:
    return image * (1 - alpha[..., None]) + np.asarray(colour, np.float32) * alpha[..., None]


def card(draw: ImageDraw.ImageDraw, s: int) -> None:
    draw.rounded_rectangle((80 * s, 120 * s, 420 * s, 480 * s), 18 * s, fill=255)


def circle(draw: ImageDraw.ImageDraw, s: int) -> None:
    draw.ellipse((580 * s, 260 * s, 780 * s, 460 * s), fill=255)


def words(draw: ImageDraw.ImageDraw, s: int) -> None:
    draw.text((110 * s, 160 * s), "Weekly plan", font=ImageFont.load_default(40 * s), fill=255)


def ghost(background: np.ndarray, page: np.ndarray) -> int:
    """Pixels of the background layer more than 2 levels off the page colour."""
    return int((np.abs(background[..., :3].astype(int) - np.rint(page * 255)).max(axis=-1) > 2).sum())


@pytest.fixture(scope="module")
def shadowed() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return shadowed_design()


def shadowed_design() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A white card (with text) casting a soft black shadow and an orange circle a dark blue one."""
    masks = {name: coverage(draw) for name, draw in (("card", card), ("circle", circle), ("text", words))}
    shadows = {
        "card": cast(masks["card"], (10, 6), 8.0, 0.35),
        "circle": cast(masks["circle"], (8, 0), 5.0, 0.6),
    }
    image = np.broadcast_to(PAGE.astype(np.float32), (SIZE[1], SIZE[0], 3)).copy()
    image = paint(image, shadows["card"], (0, 0, 0))
    image = paint(image, masks["card"], (1, 1, 1))
    image = paint(image, masks["text"], (30 / 255, 40 / 255, 60 / 255))
    image = paint(image, shadows["circle"], (20 / 255, 30 / 255, 90 / 255))
    image = paint(image, masks["circle"], (240 / 255, 120 / 255, 40 / 255))
    rgb = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    visible = {name: (shadows[name] >= 0.02) & (masks[name] == 0) for name in shadows}
    bodies = {"card body": masks["card"] == 1, "circle body": masks["circle"] == 1}
    return rgb, visible | bodies | {"card opacity": shadows["card"]}


@pytest.mark.parametrize("layers", [4, 6])
def test_a_soft_shadow_moves_with_its_element_and_the_page_is_left_clean(shadowed, layers: int) -> None:
    rgb, where = shadowed
    stack = ClassicEngine().decompose(Image.fromarray(rgb), layers)
    arrays = stack.arrays()
    alpha = np.stack([a[..., 3] for a in arrays[1:]])
    for name in ("card", "circle"):
        owner = int(np.argmax(alpha[:, where[f"{name} body"]].sum(axis=1)))
        assert (alpha[owner][where[f"{name} body"]] == 255).all()
        shadow = alpha[owner][where[name]]
        assert (shadow > 0).mean() > 0.99, f"the {name}'s shadow is not in its layer"
        assert (shadow < 255).mean() > 0.95, f"the {name}'s shadow is opaque, not soft"
        others = np.delete(alpha, owner, axis=0)[:, where[name]]
        assert not others.any(), f"another layer holds part of the {name}'s shadow"
    assert ghost(arrays[0], PAGE) == 0, "the page keeps a ghost of a shadow"
    max_error, _ = reconstruction_error(arrays, rgb)
    assert max_error <= 1.0


def test_the_shadow_colour_and_opacity_are_recovered(shadowed) -> None:
    rgb, where = shadowed
    image = rgb.astype(np.float32) / 255
    page = np.broadcast_to(PAGE.astype(np.float32), image.shape)
    foreground = np.abs(image - page).max(axis=-1) > 0.045
    shadows = find_shadows(image, page, foreground, None, 6)
    assert len(shadows) == 2
    black = min(shadows, key=lambda s: float(s.colour[0, 0].sum()))
    assert np.abs(black.colour[0, 0]).max() <= 3 / 255, "a black shadow unmixes to black"
    found = np.zeros(image.shape[:2], np.float32)
    top, left, bottom, right = black.box
    found[top:bottom, left:right] = black.alpha
    truth = where["card opacity"][where["card"]]
    assert np.abs(found[where["card"]] - truth).max() <= 0.01


def test_a_panel_fading_into_the_page_is_not_the_shadow_of_its_text() -> None:
    # A banner that fades in from the page colour is a ramp of one colour too; it lies far beyond
    # the reach of the text it holds, so it is not taken for the text's shadow.
    ramp = np.clip(np.linspace(-0.3, 1.3, SIZE[0], dtype=np.float32), 0, 1)
    panel = np.zeros((SIZE[1], SIZE[0]), np.float32)
    panel[150:450] = 0.8 * ramp
    text = coverage(
        lambda draw, s: draw.text((560 * s, 260 * s), "Sale", font=ImageFont.load_default(60 * s), fill=255)
    )
    image = np.broadcast_to(PAGE.astype(np.float32), (SIZE[1], SIZE[0], 3)).copy()
    image = paint(paint(image, panel, (0.1, 0.2, 0.5)), text, (1, 1, 1))
    rgb = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    foreground = np.abs(image - PAGE).max(axis=-1) > 0.045
    assert (
        find_shadows(
            rgb.astype(np.float32) / 255,
            np.broadcast_to(PAGE, image.shape).astype(np.float32),
            foreground,
            None,
            6,
        )
        == []
    )


def test_a_glow_around_a_title_is_in_the_title_layer() -> None:
    # A light title with a white glow on a dark page: the glow is the title's, at its soft opacity.
    page = np.array([20, 30, 70]) / 255
    text = coverage(
        lambda draw, s: draw.text(
            (120 * s, 220 * s), "Night Market", font=ImageFont.load_default(90 * s), fill=255
        )
    )
    glow = 0.7 * ndimage.gaussian_filter(text, 4.0)
    image = np.broadcast_to(page.astype(np.float32), (SIZE[1], SIZE[0], 3)).copy()
    image = paint(paint(image, glow, (1, 1, 1)), text, (250 / 255, 210 / 255, 60 / 255))
    rgb = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    stack = ClassicEngine().decompose(Image.fromarray(rgb), 4)
    arrays = stack.arrays()
    halo = (glow >= 0.02) & (text == 0)
    owner = 1 + int(np.argmax([a[..., 3][text == 1].sum() for a in arrays[1:]]))
    assert (arrays[owner][..., 3][halo] > 0).mean() > 0.99, "the glow is not in the title's layer"
    assert (arrays[owner][..., 3][halo] < 255).mean() > 0.995, "the glow is opaque, not soft"
    assert ghost(arrays[0], page) <= 4, "the page keeps a ghost of the glow"
    max_error, _ = reconstruction_error(arrays, rgb)
    assert max_error <= 1.0


def gradient_page(top: tuple[int, ...], bottom: tuple[int, ...]) -> np.ndarray:
    rows = np.linspace(0, 1, SIZE[1], dtype=np.float32)[:, None, None]
    colour = np.asarray(top, np.float32) / 255 * (1 - rows) + np.asarray(bottom, np.float32) / 255 * rows
    return np.broadcast_to(colour, (SIZE[1], SIZE[0], 3)).copy()


@pytest.mark.parametrize("layers", [4, 6])
def test_the_shadow_of_a_card_a_little_darker_than_a_gradient_page_is_found(layers: int) -> None:
    # The card's body is smooth against the page too (flat, a little darker than the gradient): it
    # must not run into its own shadow as one ramp of no one colour, which would leave the shadow in
    # the page as a ghost ring.
    page = gradient_page((150, 200, 170), (190, 235, 205))
    mask = coverage(card)
    shadow = cast(mask, (8, 6), 6.0, 0.4)
    image = paint(paint(page, shadow, (0, 0, 0)), mask, (120 / 255, 180 / 255, 150 / 255))
    rgb = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    arrays = ClassicEngine().decompose(Image.fromarray(rgb), layers).arrays()
    body = mask == 1
    owner = 1 + int(np.argmax([a[..., 3][body].sum() for a in arrays[1:]]))
    visible = (shadow >= 0.02) & (mask == 0)
    assert (arrays[owner][..., 3][visible] > 0).mean() > 0.99, "the shadow is not in the card's layer"
    assert ghost(arrays[0], page) <= 20, "the page keeps a ghost of the shadow"
    max_error, _ = reconstruction_error(arrays, rgb)
    assert max_error <= 1.0


def test_a_dark_title_on_its_own_shadow_keeps_its_letters_and_shadows_go_with_their_casters() -> None:
    # A dark red title whose dark shadow runs into a card's: the letters unmix to about the shadow's
    # colour, but they are opaque ridges above it, so they stay the title's; and the shadow, one ramp,
    # is shared out between the two elements it touches.
    font = ImageFont.load_default
    title = coverage(lambda draw, s: draw.text((440 * s, 430 * s), "Open House", font=font(64 * s), fill=255))
    mask = coverage(card)
    shadows = {"card": cast(mask, (10, 8), 6.0, 0.45), "title": cast(title, (6, 4), 3.0, 0.5)}
    image = np.broadcast_to(PAGE.astype(np.float32), (SIZE[1], SIZE[0], 3)).copy()
    image = paint(paint(image, shadows["card"], (0.07, 0, 0)), mask, (0.5, 0.5, 0.52))
    image = paint(paint(image, shadows["title"], (0.07, 0, 0)), title, (70 / 255, 29 / 255, 44 / 255))
    rgb = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    arrays = ClassicEngine().decompose(Image.fromarray(rgb), 4).arrays()
    alpha = np.stack([a[..., 3] for a in arrays[1:]])
    masks = {"card": mask, "title": title}
    owners = {name: int(np.argmax(alpha[:, m == 1].sum(axis=1))) for name, m in masks.items()}
    assert owners["card"] != owners["title"]
    assert (alpha[owners["title"]][title == 1] == 255).all(), "letters are missing from the title's layer"
    for name in masks:
        visible = (shadows[name] >= 0.05) & (mask == 0) & (title == 0)
        other = "title" if name == "card" else "card"
        visible &= shadows[name] > 2 * shadows[other]  # where the shadow is clearly this element's
        assert (alpha[owners[name]][visible] > 0).mean() > 0.95, f"the {name}'s shadow is not in its layer"
    assert ghost(arrays[0], PAGE) <= 20


def test_a_cluster_joined_by_shadows_on_a_flat_page_is_not_taken_for_a_photo_backdrop() -> None:
    # Synthetic design 9 with shadows: a card's shadow falls on a dark card and a photo, and joins
    # them, the circles on them and their shadows into one region that passes no flat test, a "photo"
    # covering 45 % of the canvas. It was taken for the page's backdrop and the whole page inpainted.
    group, _ = load_benchmark("synthetic_designs").make_design(9, shadows=True)
    image = group.image.convert("RGB")
    arrays = ClassicEngine().decompose(image, 4).arrays()
    page = group.layers[0].to_array()[..., :3]
    assert ghost(arrays[0], page) < 0.01 * page.shape[0] * page.shape[1]
    max_error, _ = reconstruction_error(arrays, np.asarray(image))
    assert max_error <= 1.0
