"""Step-caching accelerators: parse the options, wrap one request, count the transformer forwards.

Three methods, at most one per request:

- ``fb_cache``: diffusers' First Block Cache hook; ``fb_cache_threshold`` (default 0.05).
- ``db_cache``: cache-dit's DBCache (F8B0, fewer front blocks on tiny models); ``db_cache_threshold``
  (default 0.08) and ``db_cache_skip_interval`` (0 = off; K forces a full step every K steps of the window).
- ``tea_cache``: strata's TeaCache hook (``teacache.py``); ``tea_cache_distance`` (default 0.2) and
  ``tea_cache_coefficients``.

Window options, for all three: ``cache_start_step``/``cache_end_step`` (0-based, end exclusive) or
``cache_start_step_percentage``/``cache_end_step_percentage`` bound the steps where reuse may happen;
``cache_max_consecutive_steps`` forces a full forward after that many reused ones in a row (per CFG
branch). Every request reports ``forwards_computed`` and ``forwards_reused``; the pipeline is restored
afterwards. A threshold of 0 never reuses, so the output equals the uncached one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from strata.engines.qwen_parts.teacache import DEFAULT_COEFFICIENTS, apply_teacache, remove_teacache
from strata.errors import InvalidParameter

METHODS = {
    "fb_cache": "fb_cache_threshold",
    "db_cache": "db_cache_threshold",
    "tea_cache": "tea_cache_distance",
}
DEFAULT_THRESHOLDS = {"fb_cache": 0.05, "db_cache": 0.08, "tea_cache": 0.2}
WINDOW_KEYS = (
    "cache_start_step",
    "cache_end_step",
    "cache_start_step_percentage",
    "cache_end_step_percentage",
    "cache_max_consecutive_steps",
)
KEYS = (*METHODS, *METHODS.values(), "db_cache_skip_interval", "tea_cache_coefficients", *WINDOW_KEYS)


@dataclass(frozen=True)
class CachePlan:
    """A validated accelerator choice for a request of ``steps`` steps."""

    method: str | None
    threshold: float = 0.0
    start: int = 0
    end: int = 0
    max_consecutive: int | None = None
    skip_interval: int = 0
    coefficients: tuple[float, ...] = DEFAULT_COEFFICIENTS


@dataclass
class StepWindow:
    """Decides, per forward, whether a reuse the cache wants is allowed; counts computed and reused."""

    start: int
    end: int
    max_consecutive: int | None = None
    step: int = 0
    computed: int = 0
    reused: int = 0
    _streaks: dict[str, int] = field(default_factory=dict)

    def decide(self, branch: str, wants_reuse: bool) -> bool:
        """Return True to reuse; a reuse is refused outside the window or after a full streak."""
        streak = self._streaks.get(branch, 0)
        allowed = self.start <= self.step < self.end and (
            self.max_consecutive is None or streak < self.max_consecutive
        )
        reuse = wants_reuse and allowed
        self._streaks[branch] = streak + 1 if reuse else 0
        if reuse:
            self.reused += 1
        else:
            self.computed += 1
        return reuse


def parse_plan(options: Mapping[str, Any], steps: int) -> CachePlan:
    """Validate the accelerator options of one request (before anything runs)."""
    unknown = sorted(set(options) - set(KEYS))
    if unknown:
        raise InvalidParameter(
            f"unknown accelerator option(s) {unknown}", parameter="accelerators", allowed_values=list(KEYS)
        )
    chosen = [name for name in METHODS if _flag(options, name)]
    if len(chosen) > 1:
        raise InvalidParameter(f"choose one step cache, not {chosen}", parameter="accelerators")
    start, end = _window(options, steps)
    if not chosen:
        return CachePlan(None, start=start, end=end)
    method = chosen[0]
    return CachePlan(
        method,
        threshold=_number(options, METHODS[method], DEFAULT_THRESHOLDS[method]),
        start=start,
        end=end,
        max_consecutive=_count(options, "cache_max_consecutive_steps", None, 1),
        skip_interval=_count(options, "db_cache_skip_interval", 0, 0) or 0,
        coefficients=_coefficients(options),
    )


@contextmanager
def accelerated(pipe: Any, plan: CachePlan, steps: int) -> Iterator[StepWindow]:
    """Apply ``plan`` to ``pipe`` for one generation; the yielded window carries the counts."""
    window = StepWindow(plan.start, plan.end, plan.max_consecutive)
    transformer = pipe.transformer
    calls = [0]
    counter = transformer.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        if plan.method == "fb_cache":
            with _first_block_cache(transformer, plan, window):
                yield window
        elif plan.method == "tea_cache":
            apply_teacache(transformer, plan.threshold, plan.coefficients, window)
            try:
                yield window
            finally:
                remove_teacache(transformer)
        elif plan.method == "db_cache":
            with _db_cache(pipe, plan, steps, window, calls):
                yield window
        else:
            yield window
    finally:
        counter.remove()
    if plan.method is None:
        window.computed = calls[0]


@contextmanager
def _first_block_cache(transformer: Any, plan: CachePlan, window: StepWindow) -> Iterator[None]:
    """diffusers' FBCache, with its compute decision routed through the window."""
    from diffusers.hooks import FirstBlockCacheConfig, HookRegistry

    transformer.enable_cache(FirstBlockCacheConfig(threshold=plan.threshold))
    try:
        head = HookRegistry.check_if_exists_or_initialize(transformer.transformer_blocks[0])
        hook: Any = head.get_hook("fbc_leader_block_hook")
        wants_compute = hook._should_compute_remaining_blocks

        def should_compute(residual: Any) -> bool:
            branch = hook.state_manager.context.name
            # The first forward of a branch has nothing cached: never offer it as a reuse.
            has_cache = hook.state_manager.get_state().tail_block_residuals is not None
            return not window.decide(branch, has_cache and not wants_compute(residual))

        hook._should_compute_remaining_blocks = should_compute
        yield
    finally:
        transformer.disable_cache()


@contextmanager
def _db_cache(pipe: Any, plan: CachePlan, steps: int, window: StepWindow, calls: list[int]) -> Iterator[None]:
    """cache-dit's DBCache; the window becomes its per-step computation mask."""
    # cache-dit logs at INFO/WARNING on every enable and disable, i.e. per request in a server; keep it
    # to errors unless the operator chose a level (it reads the variable once, at import).
    os.environ.setdefault("CACHE_DIT_LOG_LEVEL", "error")
    import cache_dit
    from cache_dit import DBCacheConfig

    blocks = len(pipe.transformer.transformer_blocks)
    mask = [1 if step == 0 or not plan.start <= step < plan.end else 0 for step in range(steps)]
    if plan.skip_interval:
        mask = [
            1 if s >= plan.start and (s - plan.start) % plan.skip_interval == 0 else m
            for s, m in enumerate(mask)
        ]
    config = DBCacheConfig(
        Fn_compute_blocks=max(1, min(8, blocks - 1)),
        Bn_compute_blocks=0,
        residual_diff_threshold=plan.threshold,
        max_warmup_steps=0,
        max_continuous_cached_steps=plan.max_consecutive or -1,
        num_inference_steps=steps,
        steps_computation_mask=mask,
        enable_separate_cfg=True,
    )
    cache_dit.enable_cache(pipe, cache_config=config)
    try:
        yield
        stats = cache_dit.summary(pipe, details=False, logging=False)[0]
        window.reused = len(stats.cached_steps or []) + len(stats.cfg_cached_steps or [])
        window.computed = calls[0] - window.reused
    finally:
        cache_dit.disable_cache(pipe)


def _flag(options: Mapping[str, Any], name: str) -> bool:
    value = options.get(name, False)
    if not isinstance(value, bool):
        raise InvalidParameter(f"{name} must be true or false", parameter=name)
    return value


def _number(options: Mapping[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise InvalidParameter(f"{name} must be a number >= 0, got {value!r}", parameter=name)
    return float(value)


def _count(options: Mapping[str, Any], name: str, default: int | None, low: int) -> int | None:
    value = options.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidParameter(f"{name} must be an integer >= {low}, got {value!r}", parameter=name)
    return value


def _window(options: Mapping[str, Any], steps: int) -> tuple[int, int]:
    """Resolve absolute or percentage bounds to 0-based [start, end) step indices."""
    bounds = []
    for edge, default in (("start", 0), ("end", steps)):
        absolute, percent = options.get(f"cache_{edge}_step"), options.get(f"cache_{edge}_step_percentage")
        if absolute is not None and percent is not None:
            raise InvalidParameter(
                f"give cache_{edge}_step or its percentage, not both", parameter=f"cache_{edge}_step"
            )
        if percent is not None:
            share = _number(options, f"cache_{edge}_step_percentage", 0.0)
            if share > 100:
                raise InvalidParameter(
                    f"cache_{edge}_step_percentage must be <= 100", parameter=f"cache_{edge}_step_percentage"
                )
            bounds.append(round(steps * share / 100))
        else:
            step = _count(options, f"cache_{edge}_step", default, 0)
            bounds.append(default if step is None else step)
    start, end = bounds
    if start > end:
        raise InvalidParameter("the cache window starts after it ends", parameter="cache_start_step")
    return start, min(end, steps)


def _coefficients(options: Mapping[str, Any]) -> tuple[float, ...]:
    value = options.get("tea_cache_coefficients", DEFAULT_COEFFICIENTS)
    ok = (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )
    if not ok:
        raise InvalidParameter(
            "tea_cache_coefficients must be a list of numbers", parameter="tea_cache_coefficients"
        )
    return tuple(float(v) for v in value)
