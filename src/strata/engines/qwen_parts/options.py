"""Validate a ``qwen`` request before anything heavy runs.

Every option is checked here and turned into a :class:`QwenRequest`, so the pipeline never sees a
value it would reject with an ``assert`` or silently ignore. The option names are listed, with types and
defaults, at the top of :mod:`strata.engines.qwen`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strata.errors import InvalidParameter

#: Layers 2..10 are what the official demo offers; the model was trained with up to 20.
RECOMMENDED_MAX_LAYERS = 10
RESOLUTIONS = (640, 1024)
LANGUAGES = ("en", "zh")
LORA_PHASES = ("both", "high", "low")
MAX_STEPS = 100
MAX_RESULTS = 8
MAX_CANVAS_SIDE = 8192


@dataclass(frozen=True)
class LoraSpec:
    """One requested adapter: ``model`` id, strength ``weight`` and the ``phase`` of steps it runs in."""

    model: str
    weight: float = 1.0
    phase: str = "both"


@dataclass(frozen=True)
class QwenRequest:
    """A validated request; defaults are the official recipe, not the pipeline's own defaults."""

    layers: int
    prompt: str = ""
    negative_prompt: str = " "
    steps: int = 50
    seed: int | None = None
    guidance: float = 4.0
    cfg_normalize: bool = True
    caption_language: str = "en"
    resolution: int = 640
    scheduler: str = "FlowMatchEulerDiscreteScheduler"
    width: int | None = None
    height: int | None = None
    number_results: int = 1
    lora: tuple[LoraSpec, ...] = ()
    accelerators: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cfg_on(self) -> bool:
        """True CFG runs only above 1; at or below 1 the negative prompt is ignored."""
        return self.guidance > 1.0


def parse_request(layers: int, options: Mapping[str, Any] | None) -> QwenRequest:
    """Check every option's type and range and return the request; raise ``InvalidParameter``."""
    opts = dict(options or {})
    if layers > RECOMMENDED_MAX_LAYERS:
        warnings.warn(
            f"layers={layers} is above the recommended {RECOMMENDED_MAX_LAYERS}; the model was trained with "
            "up to 20 layers but quality and speed degrade",
            UserWarning,
            stacklevel=3,
        )
    width, height = _canvas(opts)
    return QwenRequest(
        layers=layers,
        prompt=_text(opts, "prompt", ""),
        negative_prompt=_text(opts, "negative_prompt", " "),
        steps=_integer(opts, "steps", 50, 1, MAX_STEPS),
        seed=_seed(opts),
        guidance=_guidance(opts),
        cfg_normalize=_boolean(opts, "cfg_normalize", True),
        caption_language=_choice(opts, "caption_language", "en", LANGUAGES),
        resolution=_choice(opts, "resolution", 640, RESOLUTIONS),
        scheduler=_text(opts, "scheduler", "FlowMatchEulerDiscreteScheduler"),
        width=width,
        height=height,
        number_results=_integer(opts, "number_results", 1, 1, MAX_RESULTS),
        lora=_loras(opts.get("lora")),
        accelerators=_mapping(opts, "accelerators"),
    )


def _guidance(opts: Mapping[str, Any]) -> float:
    """``true_cfg_scale`` (Runware ``settings.trueCFGScale``) wins over ``cfg_scale`` (``CFGScale``)."""
    for name in ("true_cfg_scale", "cfg_scale"):
        if opts.get(name) is not None:
            return _number(opts, name, 4.0, 0.0, 20.0)
    return 4.0


def _canvas(opts: Mapping[str, Any]) -> tuple[int | None, int | None]:
    width = _integer(opts, "width", None, 1, MAX_CANVAS_SIDE)
    height = _integer(opts, "height", None, 1, MAX_CANVAS_SIDE)
    if (width is None) != (height is None):
        raise InvalidParameter("width and height must be given together", parameter="width")
    return width, height


def _loras(value: Any) -> tuple[LoraSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidParameter("lora must be a list of {model, weight, transformer}", parameter="lora")
    specs = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("model"), str) or not item["model"]:
            raise InvalidParameter("each lora entry needs a non-empty 'model' string", parameter="lora")
        unknown = set(item) - {"model", "weight", "transformer"}
        if unknown:
            raise InvalidParameter(f"unknown lora field(s): {sorted(unknown)}", parameter="lora")
        weight = _number(item, "weight", 1.0, -4.0, 4.0, parameter="lora.weight")
        phase = _choice(item, "transformer", "both", LORA_PHASES, parameter="lora.transformer")
        specs.append(LoraSpec(item["model"], weight, phase))
    return tuple(specs)


def _text(opts: Mapping[str, Any], name: str, default: str) -> str:
    value = opts.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidParameter(f"{name} must be a string", parameter=name)
    return value


def _boolean(opts: Mapping[str, Any], name: str, default: bool) -> bool:
    value = opts.get(name, default)
    if not isinstance(value, bool):
        raise InvalidParameter(f"{name} must be true or false", parameter=name)
    return value


def _integer(opts: Mapping[str, Any], name: str, default: Any, low: int, high: int) -> Any:
    value = opts.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(f"{name} must be an integer in {low}..{high}, got {value!r}", parameter=name)
    return value


def _number(
    opts: Mapping[str, Any], name: str, default: float, low: float, high: float, parameter: str | None = None
) -> float:
    value = opts.get(name, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise InvalidParameter(
            f"{parameter or name} must be a number in {low}..{high}, got {value!r}",
            parameter=parameter or name,
        )
    return float(value)


def _choice(
    opts: Mapping[str, Any], name: str, default: Any, allowed: tuple[Any, ...], parameter: str | None = None
) -> Any:
    value = opts.get(name, default)
    if value not in allowed or isinstance(value, bool):
        raise InvalidParameter(
            f"{parameter or name} must be one of {list(allowed)}, got {value!r}",
            parameter=parameter or name,
            allowed_values=list(allowed),
        )
    return value


def _seed(opts: Mapping[str, Any]) -> int | None:
    value = opts.get("seed")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidParameter(f"seed must be an integer in 0..2^63-1, got {value!r}", parameter="seed")
    return value


def _mapping(opts: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = opts.get(name) or {}
    if not isinstance(value, Mapping):
        raise InvalidParameter(f"{name} must be an object", parameter=name)
    return dict(value)
