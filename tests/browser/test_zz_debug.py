from test_web import *  # noqa
from test_web import handle_points, drag, wait_idle, state, GEOMETRY


def test_debug(page, poster):
    page.set_input_files("#file", str(poster))
    page.wait_for_selector("#run:not([disabled])")
    page.fill("#layer-count", "3")
    page.click("#run")
    page.wait_for_function(
        "() => window.strata.session.decomposed && window.strata.editor.layers.length === 3"
    )
    page.click('#layers li[data-index="2"] .name')
    for i in range(3):
        g = page.evaluate(GEOMETRY, i)
        print(i, {k: g[k] for k in ("k", "left", "top", "box", "opaque")})
    r = page.evaluate("() => { const r = document.querySelector('#canvas').getBoundingClientRect(); const s = document.querySelector('#stage').getBoundingClientRect(); return [r.x, r.y, r.width, r.height, s.x, s.y, s.width, s.height]; }")
    print("canvas/stage", r)
    points = handle_points(page, 2)
    print("points", points)
    corner = points["corner"]
    drag(page, corner, (corner[0] + (corner[0] - points["centre"][0]) * 0.3, corner[1] + (corner[1] - points["centre"][1]) * 0.3))
    wait_idle(page, 1)
    print(state(page)["ops"])
    g = page.evaluate(GEOMETRY, 2)
    print(2, {k: g[k] for k in ("k", "left", "top", "box", "opaque")})
    points = handle_points(page, 2)
    print("points", points)
    print("hit", page.evaluate("([x, y]) => { const el = document.elementFromPoint(x, y); return el && (el.id || el.tagName); }", list(points["rotate"])))
    page.screenshot(path=SHOTS / "debug-after-scale.png")
