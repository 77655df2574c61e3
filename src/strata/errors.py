"""One error hierarchy for the whole package.

Each error carries a stable camelCase ``code`` that matches Runware's where Runware has one, and the
request ``parameter`` it is about, if any. Nothing here knows about HTTP, WebSockets or the terminal:
the API, the WebSocket handler and the CLI each translate these errors at their own edge.
"""

from __future__ import annotations

from typing import Any


class StrataError(Exception):
    """Base class: a failure a user can understand and act on (never a bug)."""

    code = "internalServerError"

    def __init__(
        self,
        message: str,
        *,
        parameter: str | None = None,
        code: str | None = None,
        allowed_values: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter
        self.allowed_values = allowed_values
        if code is not None:
            self.code = code


class InvalidInput(StrataError):
    """The input image cannot be used: not an image, truncated, empty, unsupported format."""

    code = "invalidImage"


class LimitExceeded(StrataError):
    """The input is larger than a configured size or pixel limit (decompression bombs included)."""

    code = "imageTooLarge"


class InvalidParameter(StrataError):
    """A request value is out of range or of the wrong type."""

    code = "invalidParameter"


class UnsupportedParameter(StrataError):
    """The engine or model does not accept this parameter."""

    code = "unsupportedParameter"


class ModelUnavailable(StrataError):
    """The engine exists but cannot run here (no weights, no GPU, missing optional dependency)."""

    code = "modelUnavailable"


class UnknownEngine(StrataError):
    code = "unknownModel"


class Cancelled(StrataError):
    code = "taskCancelled"


class TimedOut(StrataError):
    """A task ran past the server's time limit (``STRATA_TASK_TIMEOUT``)."""

    code = "timeoutProvider"


class OutputError(StrataError):
    """The output cannot be written (unwritable folder, unknown format)."""

    code = "outputFailed"


class InternalError(StrataError):
    """A bug (an unexpected exception), reported at an edge as one line instead of a traceback."""

    @classmethod
    def from_bug(cls, exc: BaseException) -> InternalError:
        detail = " ".join(str(exc).split())[:200]
        return cls(
            f"internal error ({type(exc).__name__}{': ' + detail if detail else ''}); please report it"
        )
