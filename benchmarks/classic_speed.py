"""Speed and peak memory of the classic engine: seconds per megapixel at about 1, 2 and 4 MP, N = 4 and 8.

The input is the sample poster (``examples/make_examples.py``) rendered at each size, a 4 MP photo page
covered with text (the slowest input known for the text-line step), then the real posters of
``../shared/data/posters`` (``--images`` to choose others) at their own size, and the flattened
evaluation designs of ``../shared/data/designs`` (``--no-designs`` to skip them): small screenshots
and pages with many elements, where the per-element work weighs most. Every measurement
runs in a fresh subprocess with OpenCV and BLAS limited to 2 threads: one warm-up decomposition, then
the best of ``--repeat`` timed runs; the peak memory is the subprocess's peak resident set size
(VmHWM), interpreter and libraries included.

``--hostile`` adds inputs made to be slow (not designs, so not held to the design target): a
1-pixel checkerboard, 20000 small random rectangles, uniform noise and a 4 × 100000 strip.

Usage: python benchmarks/classic_speed.py [--repeat 2] [--sizes 1,2,4] [--layers 4,8] [--images A.png ...]
       [--hostile] [--no-designs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STRATA_SHARED_DIR", ROOT.parent / "shared"))  # as the tests find it
POSTERS = SHARED / "data" / "posters"
DESIGNS = SHARED / "data" / "designs"
THREAD_ENV = {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


def make_input(megapixels: float, folder: Path) -> Path:
    """The poster rendered natively at about ``megapixels``, written as PNG (here, not in the child,
    so that the child's peak memory is the engine's)."""
    sys.path.insert(0, str(ROOT / "examples"))
    from make_examples import render

    factor = (megapixels * 1e6 / (1200 * 800)) ** 0.5
    path = folder / f"poster_{megapixels:g}mp.png"
    render(factor).save(path)
    return path


def make_text_page(folder: Path) -> Path:
    """A worst case for text lines on photo pages: a 4 MP smooth photo covered with 33 lines of 40 px
    white text (every line is found, peeled and merged)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    coarse = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    page = Image.fromarray(coarse, "RGB").resize((2450, 1633), Image.Resampling.BICUBIC)
    draw, font = ImageDraw.Draw(page), ImageFont.load_default(40)
    line = "The quick brown fox jumps over the lazy dog 0123456789 " * 2
    for top in range(20, 1600, 48):
        draw.text((20, top), line, fill="white", font=font)
    path = folder / "text_page_4mp.png"
    page.save(path)
    return path


def make_hostile(folder: Path) -> list[tuple[str, Path]]:
    """Inputs made to be slow, 1.4 MP each except the strip (0.4 MP)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[:1000, :1400]
    checker = (((xs + ys) % 2) * 255).astype(np.uint8)
    rectangles = Image.new("RGB", (1400, 1000), (250, 250, 250))
    draw = ImageDraw.Draw(rectangles)
    for x, y, side, *colour in rng.integers(0, [1400, 1000, 12, 256, 256, 256], (20000, 6)).tolist():
        draw.rectangle([x, y, x + side, y + side], fill=tuple(colour))
    strip = Image.new("RGB", (4, 100_000), (230, 230, 250))
    for top in range(0, 100_000, 333):
        ImageDraw.Draw(strip).rectangle([0, top, 1, top + 3], fill=(200, 20, 20))
    images = {
        "1-pixel checkerboard": Image.fromarray(checker, "L").convert("RGB"),
        "20000 small rectangles": rectangles,
        "uniform noise": Image.fromarray(rng.integers(0, 256, (1000, 1400, 3), dtype=np.uint8), "RGB"),
        "4 x 100000 strip": strip,
    }
    paths: list[tuple[str, Path]] = []
    for name, image in images.items():
        path = folder / f"hostile_{len(paths)}.png"
        image.save(path)
        paths.append((name, path))
    return paths


def design_inputs(folder: Path) -> list[tuple[str, Path]]:
    """Each evaluation design flattened as ``strata eval`` sees it, written as PNG."""
    from strata.evaluation.groundtruth import find_designs, load_ground_truth

    paths: list[tuple[str, Path]] = []
    for design in find_designs(DESIGNS):
        path = folder / f"design_{design.stem}.png"
        load_ground_truth(design, "group").image.save(path)
        paths.append((f"design: {design.stem}", path))
    return paths


def measure(path: Path, layers: int, repeat: int) -> dict[str, float]:
    """Run in the child: decompose the image at ``path`` and report time and memory."""
    from strata.engines.classic import ClassicEngine
    from strata.imaging.decode import open_image

    image = open_image(path)
    engine = ClassicEngine()
    engine.load()
    engine.decompose(image, layers)
    best = best_of(repeat, lambda: engine.decompose(image, layers))
    pixels = image.width * image.height / 1e6
    size = {"width": image.width, "height": image.height, "mp": pixels}
    return {**size, "s": best, "peak_mb": peak_memory_mb()}


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The shortest wall time of ``repeat`` calls of ``run``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory_mb() -> float:
    """This process's peak resident memory: VmHWM on Linux (``ru_maxrss`` survives exec there, so a
    child would report its parent's peak), ``ru_maxrss`` elsewhere."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def run_child(path: Path, layers: int, repeat: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", f"{path},{layers},{repeat}"]
    env = {**os.environ, **THREAD_ENV}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def hardware() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sizes", default="1,2,4", help="megapixels, comma-separated")
    parser.add_argument("--layers", default="4,8", help="layer counts, comma-separated")
    parser.add_argument("--images", nargs="*", type=Path, default=sorted(POSTERS.glob("*.png")))
    parser.add_argument("--hostile", action="store_true", help="Also measure inputs made to be slow.")
    parser.add_argument("--no-designs", action="store_true", help="Skip the evaluation designs.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, layers, repeat = args.child.rsplit(",", 2)
        print(json.dumps(measure(Path(path), int(layers), int(repeat))))
        return
    print(f"classic engine speed, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"hardware: {hardware()}; threads capped at 2")
    print(f"{'size':>11} {'MP':>5} {'N':>3} {'seconds':>8} {'s/MP':>6} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for mp in (float(v) for v in args.sizes.split(",")):
            path = make_input(mp, Path(folder))
            for layers in (int(v) for v in args.layers.split(",")):
                report(run_child(path, layers, args.repeat), layers)
        path = make_text_page(Path(folder))
        for layers in (int(v) for v in args.layers.split(",")):
            report(run_child(path, layers, args.repeat), layers, "photo page full of text (drawn)")
        for name, path in make_hostile(Path(folder)) if args.hostile else []:
            for layers in (int(v) for v in args.layers.split(",")):
                report(run_child(path, layers, args.repeat), layers, f"hostile: {name}")
        for name, path in [] if args.no_designs else design_inputs(Path(folder)):
            for layers in (int(v) for v in args.layers.split(",")):
                report(run_child(path, layers, args.repeat), layers, name)
    for path in args.images:
        for layers in (int(v) for v in args.layers.split(",")):
            report(run_child(path.resolve(), layers, args.repeat), layers, path.name)


def report(r: dict[str, float], layers: int, name: str = "poster (drawn)") -> None:
    size = f"{r['width']}x{r['height']}"
    row = f"{size:>11} {r['mp']:5.2f} {layers:3d} {r['s']:8.3f} {r['s'] / r['mp']:6.3f} {r['peak_mb']:8.0f}"
    print(f"{row}  {name}")


if __name__ == "__main__":
    main()
