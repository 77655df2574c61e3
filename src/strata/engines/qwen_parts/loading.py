"""Find the checkpoint, choose device and dtype, load the pipeline, apply memory and speed settings.

Weights come only from disk: an explicit ``model_path``, the ``STRATA_QWEN_MODEL_PATH`` setting, or a
``Qwen/Qwen-Image-Layered`` snapshot already in the Hugging Face cache (looked up offline). Nothing is
ever downloaded.

Offload modes, for GPUs smaller than the ~58 GB of bf16 weights (sizes from the reference note
``qwen-image-layered.md``; strata has not measured these modes):

- ``none``: everything on the GPU: ~58 GB of weights, ~63 GB peak (third-party) at 640 px / 4 layers.
- ``model``: whole components move to the GPU when used; peak ~ the 41 GB transformer + activations.
- ``sequential``: sub-module streaming; the least VRAM and by far the slowest.
- ``group``: one block at a time with overlapped transfers (CUDA streams); between the two above.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strata.errors import InvalidParameter, ModelUnavailable

MODEL_PATH_SETTING = "STRATA_QWEN_MODEL_PATH"
#: Where a load-time setting the constructor leaves unset is read from, so that the CLI, the library
#: and the server are configured alike (values are checked at load, like the constructor's).
ENVIRONMENT = {
    "device": "STRATA_QWEN_DEVICE",
    "dtype": "STRATA_QWEN_DTYPE",
    "offload": "STRATA_QWEN_OFFLOAD",
    "attention_backend": "STRATA_QWEN_ATTENTION_BACKEND",
    "compile": "STRATA_QWEN_COMPILE",
}
_SWITCH = dict.fromkeys(("1", "true", "on", "yes"), True) | dict.fromkeys(("0", "false", "off", "no"), False)
HUB_REPO = "Qwen/Qwen-Image-Layered"
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
OFFLOAD_MODES = ("none", "model", "sequential", "group")
DTYPES = ("bfloat16", "float16", "float32")


@dataclass(frozen=True)
class LoadSettings:
    """How to load: the resolved checkpoint folder and the runtime placement."""

    path: Path
    device: str
    dtype: str
    offload: str = "none"
    attention_backend: str | None = None
    compile: bool = False
    #: The MLP's GELU in the GEMM epilogue (``epilogue.py``); CUDA without offload only.
    fuse_gelu: bool = True


def from_environment(name: str) -> str | None:
    """The environment's value for the load-time setting ``name`` (a key of ``ENVIRONMENT``), or None."""
    return os.environ.get(ENVIRONMENT[name]) or None


def compile_from_environment() -> bool | None:
    """``STRATA_QWEN_COMPILE`` as a switch (1/0, true/false, on/off, yes/no), or None when unset."""
    value = from_environment("compile")
    if value is None:
        return None
    switch = _SWITCH.get(value.strip().lower())
    if switch is None:
        raise InvalidParameter(
            f"{ENVIRONMENT['compile']} must be one of {', '.join(_SWITCH)}", parameter="compile"
        )
    return switch


def resolve_model_path(model_path: str | os.PathLike[str] | None) -> Path:
    """Return the checkpoint folder or raise ``ModelUnavailable`` naming the setting to fix."""
    explicit = model_path or os.environ.get(MODEL_PATH_SETTING)
    if explicit:
        path = Path(explicit).expanduser()
        problem = layout_problem(path)
        if problem:
            raise ModelUnavailable(f"{MODEL_PATH_SETTING}/--model-path {path}: {problem}", parameter="model")
        return path
    cached = _hub_cache_snapshot()
    if cached is not None:
        return cached
    raise ModelUnavailable(
        f"no Qwen-Image-Layered weights: set {MODEL_PATH_SETTING} (or --model-path) to a diffusers-layout "
        f"folder, or put a {HUB_REPO} snapshot in the Hugging Face cache",
        parameter="model",
    )


def layout_problem(path: Path) -> str | None:
    """What is wrong with ``path`` as a diffusers checkpoint, or None if it looks complete."""
    if not path.is_dir():
        return "not a folder"
    if not (path / "model_index.json").is_file():
        return "no model_index.json (not a diffusers-layout checkpoint)"
    missing = [name for name in COMPONENTS if not (path / name).is_dir()]
    return f"missing component folder(s): {', '.join(missing)}" if missing else None


def _hub_cache_snapshot() -> Path | None:
    """The cached snapshot folder of the official repo, without touching the network."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        path = Path(snapshot_download(HUB_REPO, local_files_only=True))
    except Exception:  # any miss (not cached, partial cache) means "not available offline"
        return None
    return path if layout_problem(path) is None else None


def choose_device(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    """Default to CUDA bf16, then MPS (bf16), then CPU fp32; explicit values win but are checked."""
    import torch

    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if dtype is None:
        dtype = "float32" if device == "cpu" else "bfloat16"
    if dtype not in DTYPES:
        raise InvalidParameter(
            f"dtype must be one of {list(DTYPES)}", parameter="dtype", allowed_values=list(DTYPES)
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailable("device 'cuda' requested but CUDA is not available", parameter="device")
    return device, dtype


def load_pipeline(settings: LoadSettings) -> Any:
    """Load ``QwenImageLayeredPipeline`` from disk only and place it according to ``settings``.

    The ``processor`` component is not loaded: constructing a ``Qwen2VLProcessor`` needs torchvision
    for video, and the caption stage (``captions.py``) builds its inputs from the image processor and
    the tokenizer instead.
    """
    import torch
    from diffusers import QwenImageLayeredPipeline

    if settings.offload not in OFFLOAD_MODES:
        raise InvalidParameter(
            f"offload must be one of {list(OFFLOAD_MODES)}",
            parameter="offload",
            allowed_values=list(OFFLOAD_MODES),
        )
    try:
        with _no_progress_bars():  # a CLI run, a script or a server log gets no loading bars on stderr
            pipe = QwenImageLayeredPipeline.from_pretrained(
                settings.path, processor=None, dtype=getattr(torch, settings.dtype), local_files_only=True
            )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelUnavailable(
            f"cannot load the checkpoint at {settings.path}: {exc}", parameter="model"
        ) from exc
    pipe.set_progress_bar_config(disable=True)
    # Inference only. Parameters loaded as trainable also make compiled graphs guard on requires_grad,
    # which loading a LoRA (peft freezes the base layers) flips.
    for component in (pipe.transformer, pipe.vae, pipe.text_encoder):
        component.requires_grad_(False)
    _place(pipe, settings)
    apply_speed_levers(pipe, settings)
    return pipe


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """diffusers' and transformers' loading progress bars off, as they were afterwards."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    shown = [(lib, lib.is_progress_bar_enabled()) for lib in (diffusers_logging, transformers_logging)]
    for lib, _ in shown:
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, enabled in shown:
            if enabled:
                lib.enable_progress_bar()


def _place(pipe: Any, settings: LoadSettings) -> None:
    if settings.offload == "none" or settings.device == "cpu":
        pipe.to(settings.device)
    elif settings.offload == "model":
        pipe.enable_model_cpu_offload(device=settings.device)
    elif settings.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=settings.device)
    else:
        import torch

        # Only the 41 GB transformer is streamed; the VAE (0.25 GB) and the text encoder stay resident.
        pipe.transformer.enable_group_offload(
            onload_device=torch.device(settings.device),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=settings.device.startswith("cuda"),
        )
        pipe.vae.to(settings.device)
        pipe.text_encoder.to(settings.device)


def apply_speed_levers(pipe: Any, settings: LoadSettings) -> None:
    """GELU epilogue, attention backend and regional compile; left alone on CPU, where they do not pay."""
    if settings.device == "cpu":
        return
    if settings.fuse_gelu and settings.device.startswith("cuda") and settings.offload == "none":
        # Offload hooks move weights when a module is called; the epilogue reads them directly.
        from strata.engines.qwen_parts.epilogue import fuse_gelu

        fuse_gelu(pipe.transformer)
    if settings.attention_backend:
        try:
            pipe.transformer.set_attention_backend(settings.attention_backend)
        except (ValueError, RuntimeError, ImportError) as exc:
            raise InvalidParameter(
                f"attention backend {settings.attention_backend!r} is not usable here: {exc}",
                parameter="attention_backend",
            ) from exc
    if settings.compile:
        # Only the repeated block is compiled: 60 identical blocks share one graph. Automatic dynamic
        # shapes (dynamic=None): the first shape compiles static, the next one (CFG's negative prompt has
        # another text length) compiles a graph generic in the dimension that changed, so later prompt
        # lengths reuse it. Static graphs (dynamic=False) recompiled for every new prompt length (5 s
        # each on an H200) until dynamo's limit of 8 left the rest eager; both ran at 0.355 s/forward
        # (docs/performance.md). Not fullgraph: the step-cache hooks make a host decision per forward.
        pipe.transformer.compile_repeated_blocks(fullgraph=False, dynamic=None)
