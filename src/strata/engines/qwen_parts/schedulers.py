"""API scheduler names mapped onto diffusers schedulers that are valid for this flow-matching model.

The pipeline calls ``scheduler.set_timesteps(sigmas=..., mu=...)`` with a *linear* time shift (mu =
sqrt(condition tokens / 256)), so a scheduler qualifies only if it accepts custom sigmas and the linear
dynamic shift, and predicts flow (velocity). That leaves the flow-matching Euler family and UniPC in
flow mode. Left out on purpose: DPM-Solver / DEIS (only the exponential shift with ``mu``), Heun and
SA-Solver (no custom sigmas), LCM (for consistency-distilled models only), and every epsilon/v-prediction
scheduler (wrong parameterisation).
"""

from __future__ import annotations

from typing import Any

from strata.errors import InvalidParameter

#: API name (case-insensitive) -> (diffusers class, config overrides on top of the checkpoint's config).
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "FlowMatchEulerDiscreteScheduler": ("FlowMatchEulerDiscreteScheduler", {}),
    "Euler": ("FlowMatchEulerDiscreteScheduler", {}),
    "Euler Karras": ("FlowMatchEulerDiscreteScheduler", {"use_karras_sigmas": True}),
    "Euler Exponential": ("FlowMatchEulerDiscreteScheduler", {"use_exponential_sigmas": True}),
    "Euler Beta": ("FlowMatchEulerDiscreteScheduler", {"use_beta_sigmas": True}),
    "Euler Stochastic": ("FlowMatchEulerDiscreteScheduler", {"stochastic_sampling": True}),
    "UniPCMultistepScheduler": (
        "UniPCMultistepScheduler",
        {"use_flow_sigmas": True, "prediction_type": "flow_prediction"},
    ),
    "UniPC": ("UniPCMultistepScheduler", {"use_flow_sigmas": True, "prediction_type": "flow_prediction"}),
}
DEFAULT_SCHEDULER = "FlowMatchEulerDiscreteScheduler"
_BY_LOWER = {name.lower(): name for name in SCHEDULERS}


def canonical_name(name: str) -> str:
    """The table's spelling of ``name``, or ``InvalidParameter`` listing every allowed value."""
    try:
        return _BY_LOWER[name.strip().lower()]
    except KeyError:
        raise InvalidParameter(
            f"scheduler {name!r} is not valid for Qwen-Image-Layered (a flow-matching model)",
            parameter="scheduler",
            allowed_values=list(SCHEDULERS),
        ) from None


def build_scheduler(name: str, base_config: Any) -> Any:
    """A fresh scheduler for ``name`` from the checkpoint's scheduler config (never mutated)."""
    import diffusers

    class_name, overrides = SCHEDULERS[canonical_name(name)]
    return getattr(diffusers, class_name).from_config(base_config, **overrides)
