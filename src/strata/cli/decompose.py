"""``strata decompose``: images in, one folder of layers and layered files per image out.

Everything that can be checked before the engine runs is checked first (formats, engine, layer count,
output folder, input names). Each input is then decoded, decomposed and rendered in memory, written
into a hidden temporary folder and renamed into place, so a failure never leaves half an output. One
bad input reports its error and the others still run; the exit code is non-zero if any failed.

With ``--jobs`` above 1 (CPU engines only), inputs run side by side in that many worker processes,
each with its own engine: the classic engine's work is mostly single-threaded numpy, so a folder of
images finishes up to that many times sooner, for that many times the memory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from strata.engines import DEFAULT_ENGINE, get_engine
from strata.engines.base import Engine, Progress
from strata.errors import InternalError, InvalidInput, InvalidParameter, OutputError, StrataError
from strata.exporters import Format, get_format, render_all
from strata.imaging.decode import open_image

#: Files taken from a folder given as an input (other files there are ignored).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


@dataclass
class Job:
    """One input image and the folder its outputs go to."""

    source: Path
    target: Path


@dataclass(frozen=True)
class Request:
    """What every input is asked for: the layer count, the engine's settings, the formats (by name,
    so that a request travels to a worker process as it is) and their options."""

    layers: int
    settings: dict[str, Any]
    formats: tuple[str, ...]
    options: dict[str, dict[str, Any]]


@dataclass
class Result:
    source: Path
    target: Path | None = None
    files: list[str] = field(default_factory=list)
    layers: int = 0
    canvas: tuple[int, int] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: StrataError | None = None


def register(app: typer.Typer) -> None:
    app.command("decompose")(decompose)


def decompose(
    inputs: Annotated[
        list[Path], typer.Argument(help="Image files, or folders of images.", show_default=False)
    ],
    layers: Annotated[
        int | None, typer.Option("--layers", "-n", help="Number of layers (default: the engine's).")
    ] = None,
    engine: Annotated[str, typer.Option(help="Engine name (see `strata info`).")] = DEFAULT_ENGINE,
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model-path",
            help="qwen engine: a diffusers-layout checkpoint folder (default: STRATA_QWEN_MODEL_PATH).",
            show_default=False,
        ),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", "-f", help="Comma-separated: png,webp,tiff,psd,zip,ora,pptx.")
    ] = "png",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder; each input gets OUT/<stem>/.")
    ] = Path("out"),
    webp_quality: Annotated[
        int | None, typer.Option(min=0, max=100, help="Lossy WEBP at this quality (default: lossless).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, no per-file lines.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-O",
            help="Engine option KEY=VALUE, repeatable (qwen: prompt, steps, seed, scheduler, ...; see "
            "`strata info`); VALUE is read as JSON when it parses (20, 4.5, true), else as text.",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=0,
            help="Inputs run side by side, each in its own process (0: one per CPU core); CPU engines only.",
        ),
    ] = 1,
) -> None:
    """Decompose images into RGBA layers and write them in the requested formats.

    Layers are back to front: layer_00.png is the background, so lexical order is stacking order.
    """
    # 1. Validate everything that does not need the engine to run.
    chosen = parse_formats(formats)
    if model_path is not None and engine != "qwen":
        raise InvalidParameter("--model-path is a setting of the qwen engine", parameter="model_path")
    runner = get_engine(engine, **({} if model_path is None else {"model_path": str(model_path)}))
    count = runner.capabilities.default_layers if layers is None else layers
    settings = parse_engine_options(option or [])
    runner.check(count, settings)  # names and values, before any input is read or weight loaded
    planned = plan_jobs(inputs, out)
    workers = worker_count(jobs, runner, len(planned))
    ensure_writable(out)
    options = {"webp": {} if webp_quality is None else {"quality": webp_quality}}
    request = Request(count, settings, tuple(fmt.name for fmt in chosen), options)

    # 2. Run each input; a failure is reported and the next input still runs.
    shown = not quiet and sys.stderr.isatty()
    if workers > 1:
        results = run_parallel(planned, runner.name, request, workers, show_progress=shown)
    else:
        runner.load()
        results = run_all(planned, runner, request, show_progress=shown)

    # 3. Report: errors on stderr, then either one line per output or the JSON summary on stdout.
    for result in results:
        if result.error is not None:
            print(f"strata: error: {result.source}: {_one_line(result.error.message)}", file=sys.stderr)
        elif not quiet and not as_json:
            took = result.seconds["total"]
            print(f"{result.source} -> {result.target}/ ({result.layers} layers, {took:.2f} s)")
    if as_json:
        print(json.dumps(summary(results, runner.name, count, chosen, out, workers), indent=2, default=str))
    if any(result.error is not None for result in results):
        # SystemExit, not typer.Exit: the CLI runs click in non-standalone mode, which swallows Exit codes.
        raise SystemExit(1)


def parse_engine_options(pairs: list[str]) -> dict[str, Any]:
    """``["steps=20", "prompt=a red poster"]`` -> ``{"steps": 20, "prompt": "a red poster"}``.

    A value is read as JSON when it parses (numbers, true/false, lists), else kept as text; the
    engine checks names and values (``Engine.check``) before any input is read.
    """
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidParameter(f"--option wants KEY=VALUE, not {pair!r}", parameter="option")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value
    return settings


def parse_formats(text: str) -> list[Format]:
    """``"png,tiff"`` -> the formats, in order, without duplicates; unknown names are refused."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise InvalidParameter("no output format given", parameter="format")
    chosen: list[Format] = []
    for name in names:
        fmt = get_format(name)
        if fmt not in chosen:
            chosen.append(fmt)
    return chosen


def plan_jobs(inputs: list[Path], out: Path) -> list[Job]:
    """Expand folders into their images (sorted) and refuse two inputs that would share an output."""
    sources: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            sources.extend(found or [path])  # an image-less folder becomes that input's error
        else:
            sources.append(path)
    jobs: list[Job] = []
    seen: dict[str, Path] = {}
    for source in sources:
        stem = source.stem or source.name
        if stem in seen:
            raise InvalidParameter(
                f"{seen[stem]} and {source} would both write to {out / stem}", parameter="inputs"
            )
        seen[stem] = source
        jobs.append(Job(source, out / stem))
    return jobs


def ensure_writable(out: Path) -> None:
    """Create ``out`` if needed and prove a file can be created there, before any work is done."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=out, prefix=".strata-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"the output folder {out} is not writable: {exc.strerror or exc}") from None


def worker_count(jobs: int, runner: Engine, inputs: int) -> int:
    """Worker processes for ``--jobs`` (0: one per CPU core), never more than there are inputs."""
    if jobs == 1:
        return 1
    if runner.capabilities.needs_gpu:
        raise InvalidParameter(
            f"--jobs {jobs} runs several engines side by side; the {runner.name} engine holds one model "
            "on the GPU, so run it with --jobs 1",
            parameter="jobs",
        )
    return max(1, min(jobs or os.cpu_count() or 1, inputs))


def _bar(show_progress: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.1f}/{task.total}"))
    return Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), disable=not show_progress)


def run_all(jobs: list[Job], runner: Engine, request: Request, *, show_progress: bool) -> list[Result]:
    """Run every job in order, with a progress bar on stderr when it is a terminal."""
    with _bar(show_progress) as bar:
        task = bar.add_task("decomposing", total=len(jobs))
        results = []
        for index, job in enumerate(jobs):

            def report(fraction: float, stage: str, index: int = index, job: Job = job) -> None:
                # The engine's run is 90 % of an input's bar; writing the files is the rest.
                bar.update(task, completed=index + 0.9 * fraction, description=f"{job.source.name}: {stage}")

            results.append(run_one(job, runner, request, report))
            bar.update(task, completed=index + 1)
    return results


def run_parallel(
    jobs: list[Job], engine: str, request: Request, workers: int, *, show_progress: bool
) -> list[Result]:
    """Run the jobs in ``workers`` fresh processes, one input per worker at a time; results come
    back in input order.

    Ctrl-C reaches the workers too and ends each input under way as it would in one process (no
    half-written folder); as nothing is queued behind them, nothing else starts. A worker that dies
    (killed, out of memory) breaks its pool and the inputs running beside it: those are run again one
    at a time, so that only the input that kills its worker again fails, and the rest go on in a new pool.
    """
    results: dict[int, Result] = {}
    with _bar(show_progress) as bar:
        task = bar.add_task(f"decomposing ({workers} processes)", total=len(jobs))

        def finished(index: int, result: Result) -> None:
            results[index] = result
            bar.advance(task)

        def run(indices: list[int], size: int) -> tuple[list[int], list[int]]:
            work = [(index, jobs[index]) for index in indices]
            return _run_pool(work, size, engine, request, finished)

        queue, suspects = list(range(len(jobs))), []
        while queue:
            broken, queue = run(queue, workers)
            suspects += broken
        for index in suspects:
            if any(run([index], 1)):  # broken again (or never started): this input is the cause
                finished(index, Result(jobs[index].source, error=_worker_died()))
    return [results[index] for index in range(len(jobs))]


def _run_pool(
    work: list[tuple[int, Job]],
    workers: int,
    engine: str,
    request: Request,
    finished: Callable[[int, Result], None],
) -> tuple[list[int], list[int]]:
    """Run the numbered jobs in a pool of spawned processes (a fork would copy OpenCV's threads'
    locks) until done or until a worker dies: returns the numbers of those that were running when it
    died and of those not started."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    waiting = deque(work)
    running: dict[Future[Result], int] = {}
    broken: list[int] = []
    healthy = True
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_worker, initargs=(engine,))
    with pool:

        def start_next() -> None:
            nonlocal healthy
            if waiting and healthy:
                index, job = waiting.popleft()
                try:
                    running[pool.submit(_run_in_worker, job, request)] = index
                except BrokenProcessPool:  # a worker died between two inputs
                    waiting.appendleft((index, job))
                    healthy = False

        for _ in range(workers):
            start_next()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                try:
                    finished(index, future.result())
                except BrokenProcessPool:
                    broken.append(index)
                    healthy = False
                start_next()
        if not healthy:
            # Every input under way has failed with the pool. A worker killed while it held the
            # pool's queue can leave the others blocked on it, and Python 3.11's executor then waits
            # for them for ever as it shuts down: they are stopped here (their inputs run again).
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
    return broken, [index for index, _ in waiting]


def _worker_died() -> InternalError:
    return InternalError("the worker process running it stopped (killed, or out of memory)")


_WORKER_ENGINE: Engine | None = None


def _start_worker(engine: str) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = get_engine(engine)
    _WORKER_ENGINE.load()


def _run_in_worker(job: Job, request: Request) -> Result:
    assert _WORKER_ENGINE is not None, "the worker was started without an engine"
    return run_one(job, _WORKER_ENGINE, request, lambda fraction, stage: None)


def run_one(job: Job, runner: Engine, request: Request, progress: Progress) -> Result:
    """Decode, decompose, render in memory, then publish the folder; errors are kept, not raised."""
    result = Result(job.source)
    start = time.perf_counter()
    try:
        if job.source.is_dir():
            raise InvalidInput(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
        image = open_image(job.source)
        decoded = time.perf_counter()
        stack = runner.decompose(image, request.layers, request.settings, progress=progress)
        decomposed = time.perf_counter()
        progress(1.0, "writing files")
        files = render_all(stack, [get_format(name) for name in request.formats], request.options)
        publish(files, job.target)
    except StrataError as exc:
        result.error = exc
        return result
    except Exception as exc:  # a bug on this input: report it, and go on with the others
        if os.environ.get("STRATA_DEBUG"):
            raise
        result.error = InternalError.from_bug(exc)
        return result
    done = time.perf_counter()
    result.target, result.files = job.target, sorted(files)
    result.layers, result.canvas, result.metadata = len(stack), stack.size, dict(stack.metadata)
    result.seconds = {
        "decode": decoded - start,
        "decompose": decomposed - decoded,
        "export": done - decomposed,
        "total": done - start,
    }
    return result


def publish(files: dict[str, bytes], target: Path) -> None:
    """Write ``files`` into a hidden sibling folder, then swap it in for ``target`` in one rename."""
    # Not mkdtemp: its folders are private (0700); this one becomes the user's output, so honour the umask.
    staging = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        staging.mkdir()
    except OSError as exc:
        raise OutputError(f"cannot write to {target.parent}: {exc.strerror}") from None
    old = None
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if target.exists():
            # A rename cannot replace a non-empty folder: move the previous run aside first.
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
            os.replace(target, old / "previous")
        os.replace(staging, target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not target.exists():
            os.replace(old / "previous", target)  # put the previous run back
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def summary(
    results: list[Result], engine: str, layers: int, formats: list[Format], out: Path, workers: int
) -> dict[str, Any]:
    """The ``--json`` document: one entry per input, with files, timings and any error."""
    return {
        "ok": all(r.error is None for r in results),
        "engine": engine,
        "layers": layers,
        "formats": [fmt.name for fmt in formats],
        "out": str(out),
        "workers": workers,
        "results": [
            {
                "input": str(r.source),
                "output": None if r.target is None else str(r.target),
                "files": r.files,
                "layers": r.layers,
                "canvas": r.canvas,
                "seconds": {k: round(v, 4) for k, v in r.seconds.items()},
                "metadata": r.metadata,
                "error": None if r.error is None else {"code": r.error.code, "message": r.error.message},
            }
            for r in results
        ],
    }


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
