"""The model ids (AIR strings) the server answers to, and the engine behind each.

=============================  ==========  =================================================
model                          engine      notes
=============================  ==========  =================================================
``alibaba:qwen-image@layered``  ``qwen``    needs ``STRATA_QWEN_MODEL_PATH`` (diffusers folder)
``strata:classic@1``           ``classic`` CPU, deterministic, always available
=============================  ==========  =================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strata.config import Settings
from strata.engines import Engine
from strata.errors import ModelUnavailable, StrataError, UnknownEngine
from strata.tasks.engines import EnginePool


@dataclass(frozen=True)
class Model:
    air: str
    engine: str
    #: The environment variable that must be set before the model can run, if any.
    setting: str | None = None


MODELS: dict[str, Model] = {
    m.air: m
    for m in [
        Model("alibaba:qwen-image@layered", "qwen", setting="STRATA_QWEN_MODEL_PATH"),
        Model("strata:classic@1", "classic"),
    ]
}


def engine_configs(settings: Settings) -> dict[str, dict[str, Any]]:
    """Constructor arguments per engine name, from the settings."""
    return {"classic": {}, "qwen": {"model_path": settings.qwen_model_path}}


def configured(model: Model, settings: Settings) -> bool:
    return model.setting != "STRATA_QWEN_MODEL_PATH" or settings.qwen_model_path is not None


def resolve_model(air: str, settings: Settings, pool: EnginePool) -> tuple[Model, Engine]:
    """The catalogue entry and (unloaded) engine for ``air``, or a ``model``-parameter error."""
    model = MODELS.get(air)
    if model is None:
        raise UnknownEngine(f"unknown model {air!r}", parameter="model", allowed_values=list(MODELS))
    if not configured(model, settings):
        raise ModelUnavailable(
            f"{air} is not configured on this server: set {model.setting} to a local model folder "
            f"and restart (strata:classic@1 is always available)",
            parameter="model",
        )
    try:
        return model, pool.get(model.engine)
    except StrataError as exc:
        hint = f" (check {model.setting})" if model.setting else ""
        raise ModelUnavailable(f"{air} is unavailable: {exc.message}{hint}", parameter="model") from None
    except (ImportError, TypeError) as exc:  # an engine module missing or not matching its config
        raise ModelUnavailable(f"{air} is unavailable: {exc}", parameter="model") from None
