"""StrataError and pydantic errors → Runware error objects.

Runware's shape: ``{code, message, parameter, type, documentation, taskType, taskUUID, allowedValues?}``.
The ``taskUUID`` is what lets an SDK route the error to the call waiting for it (without it the call
hangs until its own timeout), so every error of a task echoes the UUID the client sent, valid or not.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from strata.errors import InvalidParameter, StrataError

DOCUMENTATION = "docs/server.md#errors"

#: Wire type of each parameter, for the ``type`` field (leaf name → type word).
PARAM_TYPES = {
    "taskUUID": "UUIDv4",
    "taskType": "string",
    "model": "string",
    "positivePrompt": "string",
    "negativePrompt": "string",
    "scheduler": "string",
    "outputType": "string",
    "outputFormat": "string",
    "deliveryMethod": "string",
    "webhookURL": "string",
    "uploadEndpoint": "string",
    "image": "string",
    "mode": "string",
    "transformer": "string",
    "apiKey": "string",
    "seed": "integer",
    "steps": "integer",
    "width": "integer",
    "height": "integer",
    "numberResults": "integer",
    "outputQuality": "integer",
    "ttl": "integer",
    "layers": "integer",
    "CFGScale": "float",
    "trueCFGScale": "float",
    "weight": "float",
    "includeCost": "boolean",
    "checkContent": "boolean",
    "referenceImages": "array",
    "lora": "array",
}

#: Allowed values of enumerated parameters (leaf name), attached to their errors.
ALLOWED_VALUES: dict[str, list[Any]] = {
    "deliveryMethod": ["sync", "async"],
    "mode": ["none", "fast"],
    "transformer": ["both", "high", "low"],
}


def leaf_name(parameter: str | None) -> str:
    """``lora[0].weight`` → ``weight``."""
    return (parameter or "").split(".")[-1].split("[")[0]


def param_type(parameter: str | None) -> str:
    return PARAM_TYPES.get(leaf_name(parameter), "object" if parameter else "string")


def error_object(exc: StrataError, task_type: str | None, task_uuid: Any) -> dict[str, Any]:
    """The Runware error object for ``exc``, scoped to one task."""
    obj: dict[str, Any] = {
        "code": exc.code,
        "message": exc.message,
        "parameter": exc.parameter,
        "type": param_type(exc.parameter),
        "documentation": DOCUMENTATION,
        "taskType": task_type,
        "taskUUID": task_uuid if isinstance(task_uuid, str) else None,
    }
    if exc.allowed_values is not None:
        obj["allowedValues"] = exc.allowed_values
    return obj


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
