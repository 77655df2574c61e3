"""The web page in real headless Chromium against a real ``strata serve`` on loopback.

Upload a poster, decompose it with the classic engine, hide a layer, move one (mouse drag and arrow
keys), recolour one, undo/redo, download a PSD and check its layers and pixels with psd-tools.
Screenshots of the main states go to ``out/screenshots/`` for a person to look at; a failing test also
leaves ``FAILED-<test>.png`` there, the page as it was when the test failed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

import strata_server

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; the conftest skips this folder without it

ROOT = Path(__file__).resolve().parents[2]
#: The project's drawn poster: a card, a photo, text and shapes, so every one of 4 layers holds an element.
POSTER = ROOT / "examples" / "poster.png"
SHOTS = ROOT / "out" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    with strata_server.running(tmp_path_factory.mktemp("web") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def poster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "poster.png"
    Image.open(POSTER).convert("RGB").resize((480, 320), Image.Resampling.LANCZOS).save(path)
    return path


@pytest.fixture()
def page(
    server: strata_server.RunningServer, request: pytest.FixtureRequest, test_failed: Callable[[], bool]
) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
        # Only loopback: anything else the page tried to fetch would fail the test.
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(server.http)
                or route.request.url.startswith(("data:", "blob:"))
                else route.abort()
            ),
        )
        context.add_init_script(f"localStorage.setItem('strata.apiKey', '{strata_server.API_KEY}')")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.http + "/")
        yield page
        if test_failed():  # what the page showed when the test failed, for whoever debugs it
            page.screenshot(path=SHOTS / f"FAILED-{request.node.name}.png")
        context.close()
        browser.close()
        assert not errors, f"JavaScript errors: {errors}"


def decode(data_uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))).convert("RGBA"))


def state(page) -> dict:
    return page.evaluate(
        """() => { const e = window.strata.editor; return {
            ops: e.ops, selected: e.selected, busy: e.busy,
            names: e.layers.map(l => l.name), hidden: e.layers.map(l => l.hidden),
            base: e.base.map(l => l.src), baseNames: e.base.map(l => l.name) }; }"""
    )


def wait_idle(page, ops: int) -> None:
    page.wait_for_function(f"() => !window.strata.editor.busy && window.strata.editor.ops.length === {ops}")


#: Geometry of layer i measured in the page: canvas scale and offset, visible box, first opaque pixel.
GEOMETRY = """(i) => {
  const l = window.strata.editor.layers[i];
  const r = document.querySelector('#canvas').getBoundingClientRect();
  const w = l.img.naturalWidth, h = l.img.naturalHeight;
  const o = document.createElement('canvas'); o.width = w; o.height = h;
  const g = o.getContext('2d'); g.drawImage(l.img, 0, 0);
  const d = g.getImageData(0, 0, w, h).data;
  let x0 = w, y0 = h, x1 = -1, y1 = -1, opaque = null;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const a = d[(y * w + x) * 4 + 3];
    if (a === 255 && !opaque) opaque = [x, y];
    if (a) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  return { k: r.width / w, left: r.left, top: r.top, width: w, box: [x0, y0, x1 + 1, y1 + 1], opaque };
}"""


def layer_box(page, index: int) -> dict:
    """Page coordinates of an opaque pixel of layer ``index``."""
    g = page.evaluate(GEOMETRY, index)
    return {
        "px": g["left"] + (g["opaque"][0] + 0.5) * g["k"],
        "py": g["top"] + (g["opaque"][1] + 0.5) * g["k"],
    }


def test_decompose_edit_and_download_psd(page, poster, tmp_path):
    page.screenshot(path=SHOTS / "01-empty.png")
    page.set_input_files("#file", str(poster))
    page.wait_for_selector("#run:not([disabled])")
    page.select_option("#model", "strata:classic@1")
    page.fill("#layer-count", "4")
    page.click("#run")
    page.wait_for_function(
        "() => window.strata.session.decomposed && window.strata.editor.layers.length === 4"
    )
    page.wait_for_selector("#progress", state="hidden")
    assert page.locator("#layers li").count() == 4
    page.screenshot(path=SHOTS / "02-decomposed.png")
    base = [decode(uri) for uri in state(page)["base"]]
    names = state(page)["baseNames"]

    # Hide layer 1 with its eye button.
    page.click('#layers li[data-index="1"] .eye')
    wait_idle(page, 1)
    assert page.get_attribute('#layers li[data-index="1"] .eye', "aria-pressed") == "false"

    # Move the top layer by dragging it on the canvas, then nudge it with the arrow keys.
    top = 3
    box = layer_box(page, top)
    page.mouse.move(box["px"], box["py"])
    page.mouse.down()
    page.mouse.move(box["px"] - 30, box["py"] + 20, steps=5)
    page.mouse.up()
    wait_idle(page, 2)
    drag = state(page)["ops"][1]
    assert drag["op"] == "move" and drag["layer"] == top and drag["dx"] < 0 < drag["dy"]
    page.focus("#canvas")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    wait_idle(page, 3)
    assert state(page)["ops"][2] == {"op": "move", "layer": top, "dx": 2, "dy": 10}

    # Recolour layer 2 with a red tint.
    page.click('#layers li[data-index="2"] .name')
    page.eval_on_selector("#tint", "(el) => { el.value = '#ff0000'; }")
    page.click("button[data-action=tint]")
    wait_idle(page, 4)
    page.screenshot(path=SHOTS / "03-edited.png")

    # Undo and redo the tint with the keyboard.
    page.keyboard.press("Control+z")
    wait_idle(page, 3)
    page.keyboard.press("Control+y")
    wait_idle(page, 4)
    ops = state(page)["ops"]
    assert [op["op"] for op in ops] == ["visibility", "move", "move", "tint"]

    # Download the PSD and read it back with psd-tools.
    page.select_option("#export-format", "psd")
    with page.expect_download() as info:
        page.click("#download")
    target = tmp_path / "edited.psd"
    info.value.save_as(target)
    assert info.value.suggested_filename == "poster-edited.psd"
    psd = PSDImage.open(target)
    layers = list(psd)
    assert [layer.name for layer in layers] == [names[0], names[2], names[3]], "hidden layer 1 left out"
    pixels = [full_canvas(layer, psd.size) for layer in layers]

    assert np.array_equal(pixels[0], base[0]), "the untouched background is bit-identical"
    # Two moves, one after the other: what the first pushed off the canvas does not come back.
    moved = shifted(shifted(base[3], ops[1]["dx"], ops[1]["dy"]), ops[2]["dx"], ops[2]["dy"])
    assert same_visible(pixels[2], moved), "the moved layer moved by whole pixels"
    tinted, original = pixels[1].astype(int), base[2].astype(int)
    assert np.array_equal(tinted[..., 3], original[..., 3]), "recolouring keeps the shape"
    seen = tinted[..., 3] > 0
    assert (tinted[seen][:, 0] >= tinted[seen][:, 1]).all() and (
        tinted[seen][:, 1] == tinted[seen][:, 2]
    ).all()
    assert not np.array_equal(tinted[seen], original[seen])


def test_server_errors_are_shown(page, poster):
    page.set_input_files("#file", str(poster))
    page.wait_for_selector("#run:not([disabled])")
    page.select_option("#model", "alibaba:qwen-image@layered")
    page.click("#run")
    message = page.locator("#message .text")
    message.wait_for()
    page.wait_for_function("() => document.querySelector('#message').getAttribute('role') === 'alert'")
    assert "STRATA_QWEN_MODEL_PATH" in message.inner_text()
    page.screenshot(path=SHOTS / "04-error.png")


def same_visible(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal alpha everywhere and equal colour wherever something shows (the colour under alpha 0 is moot)."""
    seen = a[..., 3] > 0
    return np.array_equal(a[..., 3], b[..., 3]) and np.array_equal(a[seen], b[seen])


def full_canvas(layer, size: tuple[int, int]) -> np.ndarray:
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.paste(layer.topil().convert("RGBA"), layer.bbox[:2])
    return np.asarray(canvas)


def shifted(pixels: np.ndarray, dx: int, dy: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    out = np.zeros_like(pixels)
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = pixels[
        max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)
    ]
    return out


def handle_points(page, index: int) -> dict:
    """Page coordinates of layer ``index``'s bottom-right corner handle, rotate handle and centre.

    The rotate handle is drawn 26 CSS px above the box, but never closer than its 7 px radius to the
    canvas edge: a layer at the top of the picture must keep a handle a user can grab.
    """
    g = page.evaluate(GEOMETRY, index)
    x0, y0, x1, y1 = g["box"]

    def at(x: float, y: float) -> tuple[float, float]:
        return g["left"] + x * g["k"], g["top"] + y * g["k"]

    top = at((x0 + x1) / 2, y0)
    right = g["left"] + g["k"] * g["width"]
    return {
        "corner": at(x1, y1),
        "rotate": (min(max(top[0], g["left"] + 7), right - 7), max(top[1] - 26, g["top"] + 7)),
        "centre": at((x0 + x1) / 2, (y0 + y1) / 2),
    }


def drag(page, start, end) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=6)
    page.mouse.up()


def test_handles_split_reorder_and_recipe_replay(page, poster, tmp_path):
    import json

    from strata.editing import apply_recipe, parse_recipe
    from strata.layers import LayerStack

    page.set_input_files("#file", str(poster))
    page.wait_for_selector("#run:not([disabled])")
    page.fill("#layer-count", "3")
    page.click("#run")
    page.wait_for_function(
        "() => window.strata.session.decomposed && window.strata.editor.layers.length === 3"
    )

    # Scale the top layer with a corner handle, then rotate it with the top handle.
    page.click('#layers li[data-index="2"] .name')
    points = handle_points(page, 2)
    corner = points["corner"]
    drag(
        page,
        corner,
        (
            corner[0] + (corner[0] - points["centre"][0]) * 0.3,
            corner[1] + (corner[1] - points["centre"][1]) * 0.3,
        ),
    )
    wait_idle(page, 1)
    scale = state(page)["ops"][0]
    assert scale["op"] == "scale" and scale["layer"] == 2 and 1.1 < scale["sx"] < 1.5
    points = handle_points(page, 2)
    drag(page, points["rotate"], (points["rotate"][0] + 60, points["rotate"][1] + 15))
    wait_idle(page, 2)
    rotate = state(page)["ops"][1]
    assert rotate["op"] == "rotate" and rotate["degrees"] > 5, "dragging the top handle right turns clockwise"
    page.screenshot(path=SHOTS / "05-scaled-rotated.png")

    # Decompose the middle layer again into 2, from the tools panel.
    page.click('#layers li[data-index="1"] .name')
    page.fill("#split-count", "2")
    page.click("button[data-action=split]")
    wait_idle(page, 3)
    assert len(state(page)["names"]) == 4 and state(page)["ops"][2]["op"] == "decompose"

    # Reorder by dragging the bottom row of the list (the background) above the top row.
    page.drag_and_drop(
        '#layers li[data-index="0"]', '#layers li[data-index="3"]', target_position={"x": 40, "y": 4}
    )
    wait_idle(page, 4)
    assert state(page)["ops"][3] == {"op": "reorder", "layer": 0, "to": 3}

    # Opacity with the keyboard on the slider, then Delete on the selected layer.
    slider = page.locator('#layers li[data-index="3"] .opacity input')
    slider.focus()
    page.keyboard.press("ArrowLeft")
    wait_idle(page, 5)
    assert state(page)["ops"][4] == {"op": "opacity", "layer": 3, "opacity": 0.99}
    page.click('#layers li[data-index="3"] .name')
    page.focus("#canvas")
    page.keyboard.press("Delete")
    wait_idle(page, 6)
    page.screenshot(path=SHOTS / "06-more-edits.png")

    # The downloaded recipe, replayed by the library on the decomposed layers, gives what the page shows.
    with page.expect_download() as info:
        page.click("#download-recipe")
    recipe_path = tmp_path / "edits.json"
    info.value.save_as(recipe_path)
    recipe = parse_recipe(recipe_path.read_text())
    assert json.loads(recipe_path.read_text())["source"] == {"width": 480, "height": 320, "layers": 3}
    found = state(page)
    base = LayerStack([Image.fromarray(decode(uri)) for uri in found["base"]], names=found["baseNames"])
    replayed = apply_recipe(base, recipe)
    shown = page.evaluate("() => window.strata.editor.layers.map(l => l.src)")
    assert replayed.names == found["names"]
    assert all(np.array_equal(np.asarray(a), decode(b)) for a, b in zip(replayed.layers, shown, strict=True))
