"""Pydantic validation errors → StrataErrors naming the parameter; Runware error objects.

The error object itself (``error_object``) is built by :mod:`strata.tasks.items`, because the worker
stores errors in that shape too; it is re-exported here for the API's modules.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from strata.errors import InvalidParameter
from strata.tasks.items import error_object, leaf_name

__all__ = ["ALLOWED_VALUES", "dotted", "error_object", "from_validation"]

#: Allowed values of enumerated parameters (leaf name), attached to their errors.
ALLOWED_VALUES: dict[str, list[Any]] = {
    "deliveryMethod": ["sync", "async"],
    "mode": ["none", "fast"],
    "transformer": ["both", "high", "low"],
}


def from_validation(exc: ValidationError) -> InvalidParameter:
    """The first pydantic error as a parameter error: ``missingSteps`` / ``invalidSteps`` and so on."""
    err = exc.errors(include_url=False)[0]
    parameter = dotted(err["loc"])
    leaf = leaf_name(parameter) or "request"
    capital = leaf[0].upper() + leaf[1:]
    if err["type"] == "missing":
        return InvalidParameter(
            f"missing required parameter {parameter}", parameter=parameter, code=f"missing{capital}"
        )
    got = repr(err.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    message = f"invalid value for {parameter}: {err['msg'].rstrip('.')} (got {got})"
    return InvalidParameter(
        message, parameter=parameter, code=f"invalid{capital}", allowed_values=ALLOWED_VALUES.get(leaf)
    )


def dotted(loc: tuple[int | str, ...]) -> str:
    """``("lora", 0, "weight")`` → ``lora[0].weight``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
