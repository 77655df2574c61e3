"""The web page in real headless Chromium against a real ``strata serve`` on loopback.

Upload a poster, decompose it with the classic engine, hide a layer, move one (mouse drag and arrow
keys), recolour one, undo/redo, download a PSD and check its layers and pixels with psd-tools.
Screenshots of the main states go to ``out/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import strata_server  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
POSTER = Path("/work/shared/data/posters/qwen-demo-1.png")
SHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/setup-system.sh)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    with strata_server.running(tmp_path_factory.mktemp("web") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def poster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not POSTER.exists():
        pytest.skip(f"{POSTER} is not available")
    path = tmp_path_factory.mktemp("input") / "poster.png"
    Image.open(POSTER).convert("RGB").resize((480, 480), Image.Resampling.LANCZOS).save(path)
    return path


@pytest.fixture()
def page(server: strata_server.RunningServer) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
        # Only loopback: anything else the page tried to fetch would fail the test.
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server.http)
                      or route.request.url.startswith(("data:", "blob:")) else route.abort())
        context.add_init_script(f"localStorage.setItem('strata.apiKey', '{strata_server.API_KEY}')")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.http + "/")
        yield page
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
            base: e.base.map(l => l.src), baseNames: e.base.map(l => l.name),
            boxes: e.layers.map(l => { window.strataAlpha = l; return null; }) }; }"""
    )


def wait_idle(page, ops: int) -> None:
    page.wait_for_function(f"() => !window.strata.editor.busy && window.strata.editor.ops.length === {ops}")


def layer_box(page, index: int) -> dict:
    return page.evaluate(
        """(i) => { const l = window.strata.editor.layers[i]; const c = document.querySelector('#canvas');
            const r = c.getBoundingClientRect(); const k = r.width / c.width;
            const o = document.createElement('canvas'); o.width = l.img.naturalWidth; o.height = l.img.naturalHeight;
            const x = o.getContext('2d'); x.drawImage(l.img, 0, 0);
            const d = x.getImageData(0, 0, o.width, o.height).data;
            let best = null;  // an opaque pixel of this layer that no visible layer above covers
            for (let y = 0; y < o.height && !best; y += 3) for (let xx = 0; xx < o.width; xx += 3) {
              if (d[(y * o.width + xx) * 4 + 3] === 255) { best = [xx, y]; break; } }
            return { px: r.left + (best[0] + 0.5) * k, py: r.top + (best[1] + 0.5) * k, k }; }""",
        index,
    )


def test_decompose_edit_and_download_psd(page, poster, tmp_path):
    page.screenshot(path=SHOTS / "01-empty.png")
    page.set_input_files("#file", str(poster))
    page.wait_for_selector("#run:not([disabled])")
    page.select_option("#model", "strata:classic@1")
    page.fill("#layer-count", "4")
    page.click("#run")
    page.wait_for_function("() => window.strata.session.decomposed && window.strata.editor.layers.length === 4")
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
    assert (tinted[seen][:, 0] >= tinted[seen][:, 1]).all() and (tinted[seen][:, 1] == tinted[seen][:, 2]).all()
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
