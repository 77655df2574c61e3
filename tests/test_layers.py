"""The layer stack invariants."""

import pytest
from PIL import Image

from strata.layers import LayerStack


def test_modes_converted_and_names_defaulted():
    stack = LayerStack([Image.new("RGB", (5, 4), "red"), Image.new("RGBA", (5, 4))])
    assert [layer.mode for layer in stack.layers] == ["RGBA", "RGBA"]
    assert stack.names == ["background", "layer 01"]
    assert stack.size == (5, 4)
    assert stack.bounding_boxes() == [(0, 0, 5, 4), None]


def test_canvas_mismatch_refused():
    with pytest.raises(ValueError, match="canvas"):
        LayerStack([Image.new("RGBA", (5, 4)), Image.new("RGBA", (4, 4))])


def test_composite_puts_top_over_bottom():
    top = Image.new("RGBA", (3, 3))
    top.putpixel((1, 1), (0, 0, 255, 255))
    stack = LayerStack([Image.new("RGBA", (3, 3), (255, 0, 0, 255)), top])
    composite = stack.composite()
    assert composite.getpixel((1, 1)) == (0, 0, 255, 255)
    assert composite.getpixel((0, 0)) == (255, 0, 0, 255)
