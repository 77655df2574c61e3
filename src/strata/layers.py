"""The layer stack: what every engine returns and every exporter writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from strata.imaging.compose import over_uint8


@dataclass
class LayerStack:
    """RGBA layers on one canvas, back to front (``layers[0]`` is the background).

    ``names`` has one entry per layer; ``metadata`` carries engine facts such as timings, seeds or the
    element count, and is written into manifests and JSON summaries.

    >>> stack = LayerStack([Image.new("RGBA", (4, 4), (255, 0, 0, 255))])
    >>> stack.composite().getpixel((0, 0))
    (255, 0, 0, 255)
    """

    layers: list[Image.Image]
    names: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a layer stack needs at least one layer")
        size = self.layers[0].size
        for index, layer in enumerate(self.layers):
            if layer.mode != "RGBA":
                self.layers[index] = layer = layer.convert("RGBA")
            if layer.size != size:
                raise ValueError(f"layer {index} is {layer.size}, the canvas is {size}")
        if not self.names:
            self.names = default_names(len(self.layers))
        if len(self.names) != len(self.layers):
            raise ValueError(f"{len(self.names)} names for {len(self.layers)} layers")

    @classmethod
    def from_arrays(cls, arrays: list[np.ndarray], **kwargs: Any) -> LayerStack:
        """Build a stack from uint8 (H, W, 4) straight-alpha arrays."""
        return cls([Image.fromarray(np.ascontiguousarray(a), "RGBA") for a in arrays], **kwargs)

    @property
    def size(self) -> tuple[int, int]:
        """Canvas (width, height)."""
        return self.layers[0].size

    def __len__(self) -> int:
        return len(self.layers)

    def arrays(self) -> list[np.ndarray]:
        """The layers as uint8 (H, W, 4) arrays."""
        return [np.asarray(layer) for layer in self.layers]

    def composite(self) -> Image.Image:
        """The straight-alpha "over" composite of all layers, as an RGBA image."""
        return Image.fromarray(over_uint8(self.arrays()), "RGBA")

    def bounding_boxes(self) -> list[tuple[int, int, int, int] | None]:
        """Per layer, the (left, top, right, bottom) box of its visible pixels, or None if empty."""
        return [layer.getchannel("A").getbbox() for layer in self.layers]

    def save(self, path: str | Path, **options: Any) -> list[Path]:
        """Write the stack to ``path``; the format comes from the extension (.psd, .tiff, .zip, ...).

        Returns the files written. A directory path (no extension) receives one PNG per layer.
        """
        from strata.exporters import export_to_path

        return export_to_path(self, Path(path), **options)


def default_names(count: int) -> list[str]:
    return ["background" if i == 0 else f"layer {i:02d}" for i in range(count)]
