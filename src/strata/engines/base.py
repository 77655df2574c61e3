"""The engine contract.

An engine is cheap to construct; ``load()`` does the heavy work (weights, warm-up) once; ``decompose()``
turns one image into a :class:`~strata.layers.LayerStack` of exactly ``layers`` RGBA layers, back to
front, on the canvas of the image (or of the requested size). Engines declare what they accept in
:class:`Capabilities` so that the CLI and the server can validate a request before running it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from strata.errors import InvalidParameter, UnsupportedParameter
from strata.layers import LayerStack

#: ``progress(fraction, stage)``: fraction in [0, 1], stage a short label ("background", "step 3/50").
Progress = Callable[[float, str], None]
#: ``should_cancel()``: polled between stages or steps; True stops the run (raises ``Cancelled``).
ShouldCancel = Callable[[], bool]


@dataclass(frozen=True)
class Capabilities:
    """What an engine accepts, checked before a run by :func:`check_request`."""

    min_layers: int
    max_layers: int
    default_layers: int
    #: Names of the engine-specific options ``decompose()`` understands (e.g. "steps", "seed").
    options: frozenset[str] = field(default_factory=frozenset)
    needs_gpu: bool = False
    deterministic: bool = True


@runtime_checkable
class Engine(Protocol):
    name: str
    capabilities: Capabilities

    def availability(self) -> tuple[bool, str]:
        """(usable here, reason) without loading anything heavy; shown by ``strata info``."""
        ...

    def load(self) -> None:
        """Do the heavy, one-time work. Idempotent."""
        ...

    def check(self, layers: int, options: Mapping[str, Any] | None = None) -> None:
        """Raise the parameter error that ``decompose`` would raise for these arguments, loading nothing."""
        ...

    def decompose(
        self,
        image: Image.Image,
        layers: int,
        options: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        should_cancel: ShouldCancel | None = None,
    ) -> LayerStack:
        """Return exactly ``layers`` RGBA layers, back to front."""
        ...


def check_request(capabilities: Capabilities, layers: int, options: Mapping[str, Any] | None) -> None:
    """Raise a parameter error if ``layers`` or an option name is outside the engine's capabilities."""
    if isinstance(layers, bool) or not isinstance(layers, int):
        raise InvalidParameter(f"layers must be an integer, got {layers!r}", parameter="layers")
    if not capabilities.min_layers <= layers <= capabilities.max_layers:
        raise InvalidParameter(
            f"layers must be between {capabilities.min_layers} and {capabilities.max_layers}, got {layers}",
            parameter="layers",
        )
    for name in options or {}:
        if name not in capabilities.options:
            raise UnsupportedParameter(
                f"this engine does not support the option {name!r}",
                parameter=name,
                allowed_values=sorted(capabilities.options),
            )


def no_progress(fraction: float, stage: str) -> None:
    """Default progress callback."""


def never_cancel() -> bool:
    return False
