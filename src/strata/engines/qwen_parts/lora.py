"""LoRA adapters per request: resolve ids to files, load, switch by phase, and always restore.

Naming rule: a LoRA ``model`` id maps to ``$STRATA_LORA_DIR/<id>.safetensors`` where every character
outside ``A-Z a-z 0-9 . _ -`` is replaced by ``_``; e.g. ``civitai:12345@678`` becomes
``civitai_12345_678.safetensors`` and ``my-style`` becomes ``my-style.safetensors``.

Phases: ``high`` runs the adapter on the first (high-noise) half of the steps only, ``low`` on the second
(low-noise) half, ``both`` on all. Switching sets adapter weights between steps; a weight of 0 adds an
exact zero. After the request every LoRA layer is removed (``unload_lora_weights``), so the next request
runs the untouched transformer.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from strata.engines.qwen_parts.options import LoraSpec
from strata.errors import InvalidParameter

LORA_DIR_SETTING = "STRATA_LORA_DIR"


def lora_file_name(model_id: str) -> str:
    """The file name the naming rule gives ``model_id``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", model_id) + ".safetensors"


def resolve_lora_files(specs: Sequence[LoraSpec], lora_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The file of every spec, checked to exist; ``InvalidParameter`` names the missing one."""
    if not specs:
        return []
    folder = lora_dir or os.environ.get(LORA_DIR_SETTING)
    if not folder:
        raise InvalidParameter(
            f"lora requested but no LoRA folder is set ({LORA_DIR_SETTING})", parameter="lora"
        )
    paths = []
    for spec in specs:
        path = Path(folder) / lora_file_name(spec.model)
        if not path.is_file():
            raise InvalidParameter(f"LoRA {spec.model!r} not found: expected {path}", parameter="lora")
        paths.append(path)
    return paths


def phase_active(phase: str, step: int, steps: int) -> bool:
    """Whether an adapter of ``phase`` runs at 0-based ``step`` of ``steps``."""
    boundary = math.ceil(steps / 2)
    return phase == "both" or (phase == "high") == (step < boundary)


class LoraSession:
    """Context manager: adapters loaded on enter, weights switched per step, all removed on exit."""

    def __init__(self, pipe: Any, specs: Sequence[LoraSpec], paths: Sequence[Path], steps: int) -> None:
        self.pipe = pipe
        self.specs = list(specs)
        self.paths = list(paths)
        self.steps = steps
        self.names = [f"strata_lora_{index}" for index in range(len(self.specs))]
        self._weights: list[float] | None = None

    def __enter__(self) -> LoraSession:
        try:
            for name, path in zip(self.names, self.paths, strict=True):
                self.pipe.load_lora_weights(str(path), adapter_name=name)
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            self.pipe.unload_lora_weights()
            raise InvalidParameter(f"cannot apply LoRA: {exc}", parameter="lora") from exc
        self.prepare_step(0)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.specs:
            self.pipe.unload_lora_weights()

    def weights_at(self, step: int) -> list[float]:
        return [s.weight if phase_active(s.phase, step, self.steps) else 0.0 for s in self.specs]

    def prepare_step(self, step: int) -> None:
        """Set the adapter weights for ``step``, only on change (``set_adapters`` walks every layer)."""
        if not self.specs or step >= self.steps:
            return
        weights = self.weights_at(step)
        if weights != self._weights:
            self.pipe.set_adapters(self.names, weights)
            self._weights = weights
