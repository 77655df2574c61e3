"""The library façade: ``strata.decompose(...)`` and ``strata.open_layers(...)``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from PIL import Image

from strata.engines import DEFAULT_ENGINE, get_engine
from strata.engines.base import Engine, Progress, ShouldCancel
from strata.imaging.decode import open_image
from strata.layers import LayerStack


def decompose(
    image: str | Path | bytes | Image.Image,
    layers: int = 4,
    *,
    engine: str = DEFAULT_ENGINE,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    **options: Any,
) -> LayerStack:
    """Decompose ``image`` (a path, bytes or PIL image) into ``layers`` RGBA layers, back to front.

    ``options`` are the engine's (qwen: ``prompt``, ``steps``, ``seed``, ...). The engine is made and
    loaded on the first call and kept for the process, so the qwen weights load once.

    >>> import strata
    >>> stack = strata.decompose("examples/poster.png", layers=4)
    >>> len(stack.layers), stack.layers[0].mode
    (4, 'RGBA')
    >>> stack.save("out/poster.psd")  # doctest: +SKIP
    """
    picture = open_image(image)
    runner = _engine(engine)
    runner.check(layers, options)
    runner.load()
    return runner.decompose(picture, layers, options, progress=progress, should_cancel=should_cancel)


@functools.cache
def _engine(name: str) -> Engine:
    """One engine per name for the process: the qwen engine loads its weights (minutes) only once."""
    return get_engine(name)


def open_layers(path: str | Path) -> LayerStack:
    """Read a layer stack back from any exported format (file or folder of PNG/WEBP layers)."""
    from strata.exporters.readers import read_stack

    return read_stack(Path(path))
