"""TeaCache for ``QwenImageTransformer2DModel``, written for strata as diffusers hooks.

Before the first block runs, the hook computes that block's *modulated image input* (``img_norm1`` of
the hidden states, shifted and scaled by ``img_mod(temb)``). Its relative L1 change since the previous
forward of the same CFG branch is rescaled by a polynomial and accumulated; while the sum stays below
the threshold the whole block stack is skipped and the residuals (output minus input, image and text
streams) of the last computed forward are added instead. Computing resets the sum. State is kept per
CFG branch through the pipeline's ``transformer.cache_context("cond"/"uncond")``.

The default coefficients are the community ones for Qwen-Image text-to-image; they were not
calibrated for the layered model (its token mix differs), hence ``tea_cache_coefficients``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HOOK_NAME = "strata_teacache"
#: Qwen-Image coefficients, highest power first (numpy.polyval order).
DEFAULT_COEFFICIENTS = (-4.5e2, 2.8e2, -4.5e1, 3.2, -2.0e-2)


def apply_teacache(transformer: Any, threshold: float, coefficients: Sequence[float], window: Any) -> None:
    """Register the TeaCache hooks on every block of ``transformer``; undo with :func:`remove_teacache`."""
    from diffusers.hooks import HookRegistry
    from diffusers.hooks.hooks import StateManager

    hooks = _hook_classes()
    state_manager = StateManager(hooks["state"], (), {})
    blocks = list(transformer.transformer_blocks)
    for index, block in enumerate(blocks):
        if index == 0:
            hook = hooks["head"](state_manager, threshold, tuple(coefficients), window)
        else:
            hook = hooks["block"](state_manager, is_tail=index == len(blocks) - 1)
        HookRegistry.check_if_exists_or_initialize(block).register_hook(hook, HOOK_NAME)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()


def remove_teacache(transformer: Any) -> None:
    """Remove the hooks and their state; the blocks run their original forward again."""
    from diffusers.hooks import HookRegistry

    for block in transformer.transformer_blocks:
        registry = HookRegistry.check_if_exists_or_initialize(block)
        if HOOK_NAME in registry.hooks:
            registry.remove_hook(HOOK_NAME, recurse=False)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()


def modulated_input(block: Any, hidden_states: Any, temb: Any) -> Any:
    """The first block's modulated image input: the signal TeaCache watches."""
    shift_scale_gate = block.img_mod(temb).chunk(2, dim=-1)[0]
    modulated, _gate = block._modulate(block.img_norm1(hidden_states), shift_scale_gate)
    return modulated


def _hook_classes() -> dict[str, Any]:
    """Build the hook classes lazily: they subclass diffusers types, which must not load at import."""
    import numpy as np
    import torch
    from diffusers.hooks.hooks import BaseState, ModelHook

    class TeaState(BaseState):
        def __init__(self) -> None:
            self.reset()

        def reset(self, *args: Any, **kwargs: Any) -> None:
            self.previous: Any = None
            self.accumulated = 0.0
            self.residuals: tuple[Any, Any] | None = None
            self.inputs: tuple[Any, Any] | None = None
            self.skip = False

    class TeaHeadHook(ModelHook):
        _is_stateful = True

        def __init__(
            self, state_manager: Any, threshold: float, coefficients: tuple[float, ...], window: Any
        ):
            super().__init__()
            self.state_manager = state_manager
            self.threshold = threshold
            self.coefficients = coefficients
            self.window = window

        def new_forward(self, module: Any, *args: Any, **kwargs: Any) -> Any:
            hidden, encoder = kwargs["hidden_states"], kwargs["encoder_hidden_states"]
            state = self.state_manager.get_state()
            current = modulated_input(module, hidden, kwargs["temb"])
            wants_reuse = self._wants_reuse(state, current)
            state.previous = current
            branch = self.state_manager.context.name
            state.skip = self.window.decide(branch, wants_reuse and state.residuals is not None)
            if state.skip:
                image_residual, text_residual = state.residuals
                return encoder + text_residual, hidden + image_residual
            state.accumulated = 0.0
            state.inputs = (hidden, encoder)
            return self.fn_ref.original_forward(*args, **kwargs)  # type: ignore[misc]

        @torch.compiler.disable
        def _wants_reuse(self, state: Any, current: Any) -> bool:
            if state.previous is None:
                return False
            previous = state.previous
            relative = ((current - previous).abs().mean() / previous.abs().mean()).item()
            state.accumulated += abs(float(np.polyval(self.coefficients, relative)))
            return state.accumulated < self.threshold

        def reset_state(self, module: Any) -> Any:
            self.state_manager.reset()
            return module

    class TeaBlockHook(ModelHook):
        _is_stateful = True

        def __init__(self, state_manager: Any, is_tail: bool):
            super().__init__()
            self.state_manager = state_manager
            self.is_tail = is_tail

        def new_forward(self, module: Any, *args: Any, **kwargs: Any) -> Any:
            state = self.state_manager.get_state()
            if state.skip:
                return kwargs["encoder_hidden_states"], kwargs["hidden_states"]
            output = self.fn_ref.original_forward(*args, **kwargs)  # type: ignore[misc]
            if self.is_tail:
                encoder_out, hidden_out = output
                hidden_in, encoder_in = state.inputs
                state.residuals = (hidden_out - hidden_in, encoder_out - encoder_in)
            return output

        def reset_state(self, module: Any) -> Any:
            self.state_manager.reset()
            return module

    return {"state": TeaState, "head": TeaHeadHook, "block": TeaBlockHook}
