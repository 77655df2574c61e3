"""The price model behind ``includeCost``: what one generation costs, in USD.

Runware bills per task and returns the figure as ``cost``. strata has no bill, so the default rates
approximate the compute a generation uses on rented hardware; operators set their own.

========  ==========================================================  ==============
engine    cost of one generation (1 megapixel = 10⁶ pixels)           default rate
========  ==========================================================  ==============
qwen      ``qwen_per_megapixel_step`` × megapixels × steps ×          0.0001 USD
          (layers + 1)
classic   ``classic_per_megapixel`` × megapixels                      0.0005 USD
========  ==========================================================  ==============

Why these shapes: the layered diffusion model denoises the composite plus one latent per layer at every
step, so its work grows with pixels × steps × (layers + 1); the classic engine is a fixed pipeline
whose time grows with pixels only. ``steps`` defaults to :data:`DEFAULT_QWEN_STEPS` when absent, and
the result is rounded to 6 decimals (a millionth of a dollar).

Overrides, later ones winning: a JSON file (``STRATA_PRICING_FILE``, e.g.
``{"qwen_per_megapixel_step": 0.00008, "classic_per_megapixel": 0}``), then one environment variable
per rate: ``STRATA_PRICE_QWEN_PER_MEGAPIXEL_STEP`` and ``STRATA_PRICE_CLASSIC_PER_MEGAPIXEL``.
The file is read once per process; a bad value in either is a clear ``invalidParameter`` error.

>>> task_cost("strata:classic@1", 1000, 1000, None, 4, prices=PriceModel())
0.0005
>>> task_cost("alibaba:qwen-image@layered", 1000, 1000, 50, 4, prices=PriceModel())
0.025
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

from strata.errors import InvalidParameter, UnknownEngine

#: The Qwen-Image-Layered pipeline's default number of denoising steps.
DEFAULT_QWEN_STEPS = 50
#: Model ids (and engine names) to the engine whose rate applies.
ENGINE_OF_MODEL = {
    "alibaba:qwen-image@layered": "qwen",
    "strata:classic@1": "classic",
    "qwen": "qwen",
    "classic": "classic",
}
ENV_PREFIX = "STRATA_PRICE_"


@dataclass(frozen=True)
class PriceModel:
    """USD rates; see the module docstring for the formula each one enters."""

    qwen_per_megapixel_step: float = 0.0001
    classic_per_megapixel: float = 0.0005

    @classmethod
    def configured(cls, pricing_file: str | Path | None = None) -> PriceModel:
        """Defaults, then ``pricing_file`` (or ``STRATA_PRICING_FILE``), then ``STRATA_PRICE_*`` variables."""
        path = pricing_file or os.environ.get("STRATA_PRICING_FILE")
        prices = _from_file(str(path)) if path else cls()
        overrides = {}
        for field in fields(cls):
            name = ENV_PREFIX + field.name.upper()
            if name in os.environ:
                overrides[field.name] = _rate(os.environ[name], name)
        return replace(prices, **overrides)


def task_cost(
    model: str, width: int, height: int, steps: int | None, layers: int, *, prices: PriceModel | None = None
) -> float:
    """USD cost of one generation of ``model`` on a ``width`` × ``height`` canvas with ``layers`` layers.

    ``prices`` defaults to :meth:`PriceModel.configured` (environment and pricing file).
    """
    engine = ENGINE_OF_MODEL.get(model)
    if engine is None:
        raise UnknownEngine(f"no price for model {model!r}", parameter="model")
    prices = prices or PriceModel.configured()
    megapixels = width * height / 1_000_000
    if engine == "qwen":
        cost = prices.qwen_per_megapixel_step * megapixels * (steps or DEFAULT_QWEN_STEPS) * (layers + 1)
    else:
        cost = prices.classic_per_megapixel * megapixels
    return round(cost, 6)


@lru_cache(maxsize=8)
def _from_file(path: str) -> PriceModel:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidParameter(
            f"cannot read STRATA_PRICING_FILE {path}: {exc}", parameter="pricing_file"
        ) from None
    known = {field.name for field in fields(PriceModel)}
    if not isinstance(data, dict) or set(data) - known:
        raise InvalidParameter(
            f"STRATA_PRICING_FILE {path} must be a JSON object with keys among {sorted(known)}",
            parameter="pricing_file",
        )
    return PriceModel(**{key: _rate(value, f"{path}: {key}") for key, value in data.items()})


def _rate(value: object, where: str) -> float:
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = math.nan
    if not math.isfinite(rate) or rate < 0:
        raise InvalidParameter(f"bad price {where}={value!r}: expected a number >= 0", parameter="pricing")
    return rate
