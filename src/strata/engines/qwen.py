"""The ``qwen`` engine: Qwen-Image-Layered (``alibaba:qwen-image@layered``) through diffusers.

Options accepted by :meth:`QwenEngine.decompose` (all optional; defaults are the official recipe):

=====================  ==================  ==========================================================
name                   type                meaning (Runware field it maps from)
=====================  ==================  ==========================================================
prompt                 str, ""             caption of the whole image; empty = auto-caption (positivePrompt)
negative_prompt        str, " "            used only when guidance > 1 (negativePrompt)
steps                  int 1..100, 50      denoising steps (steps)
seed                   int >= 0 or None    None = random; result i uses seed + i (seed)
true_cfg_scale         float 0..20         true-CFG scale; wins over cfg_scale (settings.trueCFGScale)
cfg_scale              float 0..20         used when true_cfg_scale is absent (CFGScale); default 4.0;
                                           <= 1 turns CFG off and ignores negative_prompt
cfg_normalize          bool, True          rescale the CFG output to the conditional norm
caption_language       "en" | "zh", "en"   language of the auto-caption
resolution             640 | 1024, 640     pipeline bucket (area ~ resolution^2) (resolution)
scheduler              str                 see ``qwen_parts/schedulers.py`` (scheduler)
width, height          int, both or none   output canvas; default = the input's size (width/height)
number_results         int 1..8, 1         separate seeded generations; use decompose_all (numberResults)
lora                   list of dict        [{model: str, weight: float=1, transformer: both|high|low}] (lora)
accelerators           dict                fb_cache, db_cache, tea_cache and their thresholds, window
                                           and max-consecutive keys: see ``qwen_parts/caching.py``
                                           (acceleratorOptions)
=====================  ==================  ==========================================================

Layers: 2..20; above 10 a ``UserWarning`` says quality and speed degrade (the demo stops at 10, the
model was trained with up to 20). Constructor settings (load time), each read from the environment
when not given: ``model_path`` (``STRATA_QWEN_MODEL_PATH``), ``device`` (``STRATA_QWEN_DEVICE``),
``dtype`` (``STRATA_QWEN_DTYPE``), ``offload`` (``STRATA_QWEN_OFFLOAD``: none|model|sequential|group),
``attention_backend`` (``STRATA_QWEN_ATTENTION_BACKEND``: a diffusers backend name, CUDA only),
``compile`` (``STRATA_QWEN_COMPILE``: regional torch.compile, default on for CUDA without offload),
``lora_dir`` (``STRATA_LORA_DIR``).
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from strata.engines.base import Capabilities, Progress, ShouldCancel, check_request, never_cancel, no_progress
from strata.engines.qwen_parts import captions, loading
from strata.engines.qwen_parts.caching import CachePlan, accelerated, parse_plan
from strata.engines.qwen_parts.canvas import flatten_input, resize_rgba
from strata.engines.qwen_parts.lora import LoraSession, resolve_lora_files
from strata.engines.qwen_parts.options import QwenRequest, parse_request
from strata.engines.qwen_parts.schedulers import build_scheduler, canonical_name
from strata.errors import Cancelled, InvalidParameter, ModelUnavailable
from strata.layers import LayerStack

MODEL_ID = "alibaba:qwen-image@layered"
OPTIONS = frozenset(
    {
        "prompt", "negative_prompt", "steps", "seed", "true_cfg_scale", "cfg_scale", "cfg_normalize",
        "caption_language", "resolution", "scheduler", "width", "height", "number_results", "lora",
        "accelerators",
    }
)  # fmt: skip
#: Stands in for the prompt string when embeddings are passed: the pipeline re-captions on an empty one.
_EMBEDDED_PROMPT = "<embedded>"
MAX_SEQUENCE_LENGTH = 512
EMBEDDING_CACHE_SIZE = 8


class _Stop(Exception):
    """Raised from the step callback to leave the denoising loop before the VAE decode."""


class QwenEngine:
    """Qwen-Image-Layered through the real ``QwenImageLayeredPipeline``; see the module docstring."""

    name = "qwen"
    capabilities = Capabilities(
        min_layers=2, max_layers=20, default_layers=4, options=OPTIONS, needs_gpu=True, deterministic=True
    )

    def __init__(
        self,
        model_path: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        offload: str | None = None,
        attention_backend: str | None = None,
        compile: bool | None = None,
        lora_dir: str | None = None,
    ) -> None:
        self.model_path = model_path
        self.device, self.dtype = device, dtype
        self.offload = offload
        self.attention_backend = attention_backend
        self.compile = compile
        self.lora_dir = lora_dir
        self.caption_cache = captions.CaptionCache()
        self._pipe: Any = None
        self._image_processor: Any = None
        self._scheduler_config: Any = None
        self._embedding_cache: OrderedDict[str, tuple[Any, Any]] = OrderedDict()

    @classmethod
    def from_pipeline(
        cls, pipe: Any, settings: loading.LoadSettings | None = None, **config: Any
    ) -> QwenEngine:
        """An engine around an already-built pipeline (benchmarks); ``settings`` applies the speed levers."""
        engine = cls(**config)
        if settings is not None:
            loading.apply_speed_levers(pipe, settings)
        pipe.set_progress_bar_config(disable=True)
        engine._pipe, engine._scheduler_config = pipe, pipe.scheduler.config
        return engine

    def availability(self) -> tuple[bool, str]:
        """Whether torch/diffusers/transformers import and weights are on disk; loads nothing."""
        missing = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"missing packages: {', '.join(missing)} (pip install 'strata[gpu]')"
        try:
            path = loading.resolve_model_path(self.model_path)
        except ModelUnavailable as exc:
            return False, exc.message
        return True, f"weights at {path}"

    def load(self) -> None:
        """Load the pipeline once (idempotent)."""
        if self._pipe is not None:
            return
        environment = loading.from_environment
        path = loading.resolve_model_path(self.model_path)
        device, dtype = loading.choose_device(
            self.device or environment("device"), self.dtype or environment("dtype")
        )
        offload = self.offload or environment("offload") or "none"
        backend = self.attention_backend or environment("attention_backend")
        # Compile by default only where it pays and nothing moves weights between forwards.
        use_compile = self.compile if self.compile is not None else loading.compile_from_environment()
        if use_compile is None:
            use_compile = device.startswith("cuda") and offload == "none"
        pipe = loading.load_pipeline(loading.LoadSettings(path, device, dtype, offload, backend, use_compile))
        self._scheduler_config = pipe.scheduler.config
        if (path / "processor").is_dir():
            self._image_processor = captions.load_image_processor(path)
        self._pipe = pipe

    def check(self, layers: int, options: Mapping[str, Any] | None = None) -> None:
        """Every parameter error of ``decompose`` (names, values, scheduler, caches, LoRA files), unloaded."""
        self._parse(layers, options)

    def _parse(
        self, layers: int, options: Mapping[str, Any] | None
    ) -> tuple[QwenRequest, CachePlan, list[Path]]:
        check_request(self.capabilities, layers, options)
        request = parse_request(layers, options)
        canonical_name(request.scheduler)
        plan = parse_plan(request.accelerators, request.steps)
        return request, plan, resolve_lora_files(request.lora, self.lora_dir)

    def decompose(
        self,
        image: Image.Image,
        layers: int,
        options: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        should_cancel: ShouldCancel | None = None,
    ) -> LayerStack:
        """Decompose ``image`` into ``layers`` RGBA layers, back to front (one result)."""
        if options and options.get("number_results", 1) != 1:
            raise InvalidParameter(
                "decompose returns one result; use decompose_all", parameter="number_results"
            )
        return self.decompose_all(image, layers, options, progress, should_cancel)[0]

    def decompose_all(
        self,
        image: Image.Image,
        layers: int,
        options: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        should_cancel: ShouldCancel | None = None,
    ) -> list[LayerStack]:
        """``number_results`` decompositions of ``image`` sharing one caption and prompt encoding."""
        progress, should_cancel = progress or no_progress, should_cancel or never_cancel
        # 1. Validate everything before any heavy work.
        request, plan, lora_paths = self._parse(layers, options)
        # 2. Load the weights (once).
        self.load()
        timings: dict[str, float] = {}
        # 3. The condition image and its bucket.
        condition = flatten_input(image)
        bucket = self._bucket(condition, request.resolution)
        # 4. The prompt: the client's, else the (cached) auto-caption.
        started = time.perf_counter()
        prompt, captioned = self._prompt(condition, bucket, request)
        timings["caption_s"] = time.perf_counter() - started
        # 5. Encode the prompts once for every result.
        started = time.perf_counter()
        embeddings = self._encode(prompt, request)
        timings["encode_s"] = time.perf_counter() - started
        # 6. One seeded generation per result.
        first_seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        stacks = []
        for index in range(request.number_results):
            seed = first_seed + index
            started = time.perf_counter()
            layers_out, counts = self._generate(
                condition, request, embeddings, seed, plan, lora_paths, index, progress, should_cancel
            )
            timings["denoise_decode_s"] = time.perf_counter() - started
            # 7. Back onto the output canvas, back to front (the pipeline's order is bottom to top).
            canvas = (request.width, request.height) if request.width and request.height else image.size
            metadata = self._metadata(request, seed, prompt, captioned, bucket, plan, counts, timings)
            stacks.append(LayerStack([resize_rgba(layer, canvas) for layer in layers_out], metadata=metadata))
        progress(1.0, "done")
        return stacks

    def _bucket(self, condition: Image.Image, resolution: int) -> tuple[int, int]:
        """The pipeline's (width, height) for this aspect ratio: area ~ resolution^2, multiples of 32."""
        from diffusers.pipelines.qwenimage.pipeline_qwenimage_layered import calculate_dimensions

        width, height = calculate_dimensions(resolution * resolution, condition.width / condition.height)
        return int(width), int(height)

    def _prompt(
        self, condition: Image.Image, bucket: tuple[int, int], request: QwenRequest
    ) -> tuple[str, bool]:
        if request.prompt.strip():
            return request.prompt, False
        if self._image_processor is None:
            raise ModelUnavailable(
                "empty prompt needs the caption processor (processor/ folder)", parameter="prompt"
            )
        key = captions.image_key(condition, request.caption_language)
        caption = self.caption_cache.get(key)
        if caption is None:
            resized = self._pipe.image_processor.resize(condition, bucket[1], bucket[0])
            caption = captions.caption_image(
                self._pipe, self._image_processor, resized, request.caption_language
            )
            self.caption_cache.put(key, caption)
        return caption, True

    def _encode(self, prompt: str, request: QwenRequest) -> dict[str, Any]:
        """Prompt (and, with CFG, negative prompt) embeddings with all-ones masks when unpadded."""
        import torch

        pipe = self._pipe
        device = pipe._execution_device
        embeddings: dict[str, Any] = {}
        pairs = [("prompt", prompt)] + (
            [("negative_prompt", request.negative_prompt)] if request.cfg_on else []
        )
        for name, text in pairs:
            cached = self._embedding_cache.get(text)
            if cached is None:
                embeds, mask = pipe.encode_prompt(
                    prompt=text, device=device, max_sequence_length=MAX_SEQUENCE_LENGTH
                )
                if mask is None:  # encode_prompt drops an all-ones mask; passing one keeps the pipeline quiet
                    mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
                cached = (embeds, mask)
            self._remember_embedding(text, cached)
            embeddings[f"{name}_embeds"], embeddings[f"{name}_embeds_mask"] = cached
        return embeddings

    def _remember_embedding(self, text: str, value: tuple[Any, Any]) -> None:
        """Keep the last few encodings: callers that loop over results reuse them (~1.4 MB each)."""
        self._embedding_cache[text] = value
        self._embedding_cache.move_to_end(text)
        while len(self._embedding_cache) > EMBEDDING_CACHE_SIZE:
            self._embedding_cache.popitem(last=False)

    def _generate(
        self,
        condition: Image.Image,
        request: QwenRequest,
        embeddings: dict[str, Any],
        seed: int,
        plan: CachePlan,
        lora_paths: list[Path],
        index: int,
        progress: Progress,
        should_cancel: ShouldCancel,
    ) -> tuple[list[Image.Image], dict[str, int]]:
        """Run one seeded generation; returns (bottom-to-top RGBA layers, forward counts)."""
        import torch

        pipe = self._pipe
        total = request.steps * request.number_results
        if should_cancel():
            raise Cancelled("cancelled before denoising")
        pipe.scheduler = build_scheduler(request.scheduler, self._scheduler_config)
        # Adapters and step caches run the blocks uncompiled: dynamo specialises on an adapter's scale
        # and on the caches' hooks, and recompiled the block for each (the cache hooks many times a
        # request, past its limit of 8 graphs); the graphs of plain requests are kept for them.
        uncompiled = bool(request.lora) or plan.method is not None
        with (
            torch.compiler.set_stance("force_eager") if uncompiled else contextlib.nullcontext(),
            LoraSession(pipe, request.lora, lora_paths, request.steps) as lora,
            accelerated(pipe, plan, request.steps) as window,
        ):

            def on_step_end(_pipe: Any, step: int, _t: Any, _tensors: dict[str, Any]) -> dict[str, Any]:
                window.step = step + 1
                lora.prepare_step(step + 1)
                progress((index * request.steps + step + 1) / total, f"step {step + 1}/{request.steps}")
                if should_cancel():
                    raise _Stop
                return {}

            try:
                output = pipe(
                    image=condition,
                    prompt=_EMBEDDED_PROMPT,
                    **embeddings,
                    true_cfg_scale=request.guidance,
                    layers=request.layers,
                    num_inference_steps=request.steps,
                    generator=torch.Generator("cpu").manual_seed(seed),
                    resolution=request.resolution,
                    cfg_normalize=request.cfg_normalize,
                    max_sequence_length=MAX_SEQUENCE_LENGTH,
                    callback_on_step_end=on_step_end,
                    callback_on_step_end_tensor_inputs=[],
                )
            except _Stop:
                self._release_memory()
                raise Cancelled("cancelled during denoising") from None
        return list(output.images[0]), {"computed": window.computed, "reused": window.reused}

    def _release_memory(self) -> None:
        """After a cancel: let offload hooks move weights back and hand cached GPU blocks back."""
        import torch

        self._pipe.maybe_free_model_hooks()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @staticmethod
    def _metadata(request, seed, prompt, captioned, bucket, plan, counts, timings) -> dict[str, Any]:
        return {
            "engine": "qwen",
            "model": MODEL_ID,
            "seed": seed,
            "steps": request.steps,
            "guidance": request.guidance,
            "cfg": request.cfg_on,
            "scheduler": canonical_name(request.scheduler),
            "resolution": request.resolution,
            "bucket": list(bucket),
            "prompt": prompt,
            "auto_caption": captioned,
            "lora": [vars(spec) for spec in request.lora],
            "accelerator": plan.method,
            "forwards_computed": counts["computed"],
            "forwards_reused": counts["reused"],
            "timings": dict(timings),
        }
