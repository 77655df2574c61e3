"""Engines by name.

Built-ins are registered by import path, so that listing engines imports nothing heavy; third parties
can add theirs with :func:`register`.
"""

from __future__ import annotations

import importlib
from typing import Any

from strata.engines.base import Capabilities, Engine, check_request
from strata.errors import UnknownEngine

__all__ = ["Capabilities", "Engine", "check_request", "engine_names", "get_engine", "register"]

_REGISTRY: dict[str, str] = {
    "classic": "strata.engines.classic:ClassicEngine",
    "qwen": "strata.engines.qwen:QwenEngine",
}

DEFAULT_ENGINE = "classic"


def register(name: str, target: str) -> None:
    """Register an engine class under ``name`` as ``"package.module:ClassName"``."""
    _REGISTRY[name] = target


def engine_names() -> list[str]:
    return list(_REGISTRY)


def get_engine(name: str = DEFAULT_ENGINE, **config: Any) -> Engine:
    """Construct (not load) the engine called ``name``; ``config`` goes to its constructor."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UnknownEngine(
            f"unknown engine {name!r}", parameter="engine", allowed_values=engine_names()
        ) from None
    module_name, class_name = target.split(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    engine: Engine = engine_class(**config)
    return engine
