"""Throughput of ``strata decompose`` on a folder of images, one process against ``--jobs``.

The folder holds the sample poster and the Qwen demo posters of ``../shared/data/posters`` (``--copies``
of each, 8 images by default). Each setting runs the real CLI in a subprocess, end to end (start-up,
decoding, the classic engine, PNG + TIFF writing), and the outputs of every setting are checked to be
byte-identical to those of ``--jobs 1``.

It also times the start-up alone: ``strata --help`` and a process that imports what a decomposition
does (the CLI, the classic engine and its text step, every exporter), best of 5 each.

Usage: python benchmarks/cli_batch.py [--jobs 1,2] [--copies 2] [--layers 4]
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from classic_speed import best_of, hardware

ROOT = Path(__file__).resolve().parents[1]
POSTERS = ROOT.parent / "shared" / "data" / "posters"


def make_folder(folder: Path, copies: int) -> int:
    images = [ROOT / "examples" / "poster.png", *sorted(POSTERS.glob("*.png"))]
    pixels = 0
    for copy in range(copies):
        for image in images:
            shutil.copy(image, folder / f"{image.stem}-{copy}.png")
    from PIL import Image

    for path in folder.iterdir():
        with Image.open(path) as opened:
            pixels += opened.width * opened.height
    return pixels


def run(folder: Path, out: Path, jobs: int, layers: int) -> float:
    strata = Path(sys.executable).with_name("strata")
    command = [str(strata), "decompose", str(folder), "-n", str(layers), "-f", "png,tiff", "-o", str(out)]
    start = time.perf_counter()
    subprocess.run([*command, "--quiet", "--jobs", str(jobs)], check=True)
    return time.perf_counter() - start


#: What a decomposing process imports before it reads its first image.
_IMPORTS = (
    "import strata.cli, strata.engines.classic, strata.imaging.text, strata.imaging.peel; "
    "from strata.exporters import FORMATS; [fmt.module for fmt in FORMATS.values()]; "
    "strata.cli.build_app()"
)


def start_up(command: list[str], repeat: int = 5) -> float:
    """Best wall time of ``command`` in a fresh process."""
    return best_of(repeat, lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL))


def same_tree(a: Path, b: Path) -> bool:
    compared = filecmp.dircmp(a, b)
    if compared.left_only or compared.right_only or compared.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, compared.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(a / d, b / d) for d in compared.common_dirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs", default="1,2", help="comma-separated --jobs settings (the first is the reference)"
    )
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    settings = [int(j) for j in args.jobs.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "in"
        folder.mkdir()
        megapixels = make_folder(folder, args.copies) / 1e6
        count = len(list(folder.iterdir()))
        print(f"strata decompose on a folder, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(f"hardware: {hardware()}")
        print(f"{count} images, {megapixels:.1f} MP in all, N = {args.layers}, PNG + TIFF written")
        outputs = [Path(scratch) / f"out-{jobs}" for jobs in settings]
        times = [run(folder, out, jobs, args.layers) for out, jobs in zip(outputs, settings, strict=True)]
        for jobs, out, seconds in zip(settings, outputs, times, strict=True):
            rate = f"{count / seconds:.2f} images/s, {seconds / megapixels:.3f} s/MP"
            same = same_tree(outputs[0], out)
            speedup = times[0] / seconds
            print(f"--jobs {jobs}: {seconds:6.2f} s, {rate}, {speedup:.2f}x; outputs identical: {same}")
    help_s = start_up([str(Path(sys.executable).with_name("strata")), "--help"])
    imports_s = start_up([sys.executable, "-c", _IMPORTS])
    print(f"start-up: strata --help {help_s:.2f} s; importing a decomposition's modules {imports_s:.2f} s")


if __name__ == "__main__":
    main()
