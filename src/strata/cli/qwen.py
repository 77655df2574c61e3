"""``strata qwen``: helpers for the Qwen-Image-Layered engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from strata.errors import OutputError


def register(app: typer.Typer) -> None:
    qwen_app = typer.Typer(help="Qwen-Image-Layered engine helpers.", no_args_is_help=True)
    qwen_app.command("make-tiny")(make_tiny)
    app.add_typer(qwen_app, name="qwen")


def make_tiny(
    directory: Annotated[Path, typer.Argument(help="Folder to write (must be empty or absent).")],
) -> None:
    """Write a tiny random-weight Qwen-Image-Layered checkpoint in the diffusers layout.

    Point STRATA_QWEN_MODEL_PATH at it to smoke-test the whole ``qwen`` path on a CPU in seconds; its
    layers are noise, not a decomposition.
    """
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise OutputError(f"{directory} exists and is not an empty folder", parameter="directory")
    from strata.engines.qwen_parts.tiny import write_tiny_checkpoint

    write_tiny_checkpoint(directory)
    typer.echo(f"wrote a tiny Qwen-Image-Layered checkpoint to {directory}")
