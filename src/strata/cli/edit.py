"""``strata edit``: replay an edit recipe on a layer stack and write the edited layers.

    strata edit out/poster/layers.psd --recipe edits.json --out out/edited --format psd,png

The stack is read with :func:`strata.open_layers` (a folder of layer PNGs or any layered file), the
recipe (see :mod:`strata.editing.recipe`) is validated and applied, and the result is written as the
editor shows it: hidden layers left out, opacities applied, plus ``composite.png``. Everything is
rendered in memory first, so a bad recipe or input writes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from strata.cli.decompose import parse_formats
from strata.exporters import FORMATS, render_all, write_files
from strata.library import open_layers


def register(app: typer.Typer) -> None:
    app.command("edit")(edit)


def edit(
    source: Annotated[
        Path, typer.Argument(help="A folder of layer_XX.png/.webp, or a .tiff/.psd/.zip/.ora/.pptx file.")
    ],
    recipe: Annotated[Path, typer.Option("--recipe", "-r", help="The edit recipe (JSON) to apply.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the edited layers into.")],
    formats: Annotated[
        str, typer.Option("--format", "-f", help="Comma-separated: png,webp,tiff,psd,zip,ora,pptx.")
    ] = "psd,png",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Apply an edit recipe (move, scale, rotate, recolour, hide, reorder, decompose again, ...) to layers."""
    from strata.editing import apply_recipe, for_export, load_recipe  # pydantic: not in other commands

    chosen = parse_formats(formats)
    steps = load_recipe(recipe)
    start = time.perf_counter()
    stack = apply_recipe(open_layers(source), steps)
    shown = for_export(stack)
    files = render_all(shown, chosen)
    files["composite.png"] = FORMATS["png"].module.layer_to_bytes(shown.composite())
    written = write_files(files, out)
    if not quiet:
        seconds = time.perf_counter() - start
        print(f"{len(steps.operations)} operations, {len(shown)} layers, {seconds:.2f} s -> {out}")
        for path in written:
            print(f"  {path}")
