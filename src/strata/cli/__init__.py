"""The ``strata`` command: a thin layer over the library.

Every subcommand lives in its own module with a ``register(app)`` function. Errors from the library
(:class:`~strata.errors.StrataError`) become one line on stderr and a non-zero exit, never a traceback;
so do bugs (any other exception), unless ``STRATA_DEBUG`` is set.
"""

from __future__ import annotations

import importlib
import os
import sys

import click
import typer

from strata.errors import InternalError, StrataError

COMMANDS = ["decompose", "compose", "eval", "info", "serve", "edit", "qwen"]


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="strata",
        help="Decompose images into editable RGBA layers, export them, serve them.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for name in COMMANDS:
        importlib.import_module(f"strata.cli.{name}").register(app)
    return app


def fail(message: str, code: int = 1) -> None:
    """Print ``strata: error: message`` on one line and exit."""
    first_line = " ".join(str(message).split())
    print(f"strata: error: {first_line}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    app = build_app()
    try:
        code = app(args=argv, standalone_mode=False)
    # typer vendors its own click (typer._click): its exceptions are not click's, so catch both.
    except (click.exceptions.Abort, typer.Abort):
        fail("aborted", 130)
    except (click.exceptions.ClickException, typer.TyperException) as exc:
        exc.show()  # type: ignore[union-attr]
        raise SystemExit(exc.exit_code) from None
    except StrataError as exc:
        fail(exc.message)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("STRATA_DEBUG"):
            raise
        fail(f"{InternalError.from_bug(exc).message}; STRATA_DEBUG=1 shows the traceback")
    # Outside standalone mode click returns the code of a `typer.Exit(code)` instead of exiting, and
    # 130 for a Ctrl-C it caught itself.
    if code == 130:
        fail("interrupted", 130)
    if isinstance(code, int) and code != 0:
        raise SystemExit(code)
