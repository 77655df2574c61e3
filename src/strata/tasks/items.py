"""Error objects in the shape the task layer stores and every transport sends (Runware's).

A task's errors are stored as they will be sent, so that a poll after a restart answers exactly what
the live socket did. The shape is Runware's: ``{code, message, parameter, type, documentation,
taskType, taskUUID, allowedValues?}``. It lives here, below both the task layer and the API, because
the worker builds these objects and the API only forwards them. The ``taskUUID`` is what lets an SDK
route the error to the call waiting for it, so every error of a task echoes the UUID the client sent.
"""

from __future__ import annotations

from typing import Any

from strata.errors import StrataError

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
