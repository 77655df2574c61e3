"""Load test of ``strata serve``: concurrent WebSocket clients speaking the raw Runware protocol.

Starts the real server in a subprocess on a free loopback port (classic engine, ``strata:classic@1``),
then runs two phases against it, each client authenticating and then sending ``imageInference`` tasks
one after another with a 0.25 MP reference image inlined as a data URI:

1. **sequential** (1 client): no queueing, so end-to-end latency minus engine time is the server's own
   overhead per task (parsing, decoding the data URI, encoding and storing the output, framing).
2. **load** (``--clients``, default 32): throughput and p50/p99 end-to-end latency under saturation.

Engine time: each result item carries ``timings`` (``queueMs``, ``engineMs``, ``totalMs``; see
:mod:`strata.tasks.worker`; Runware SDKs drop the unknown key). The overhead of a task is its
end-to-end latency, measured here, minus its queue wait and engine time, so it is measurable under
load too. Against a server without ``timings`` the script falls back on the sequential phase: before
each task the same engine runs here, in this process, on the same image (the server is idle
meanwhile), and the overhead is the latency minus that paired run. The paired runs are reported
either way, as a cross-check of ``engineMs``; an in-process stage breakdown (decode, engine, encode)
shows where the overhead goes.

Run (about a minute on 2 CPU cores)::

    python benchmarks/server_load.py                      # 32 clients, 96 tasks, base64Data, TIFF
    python benchmarks/server_load.py --output-type URL --tasks 64 --json results.json

Target: p50 server overhead <= 10 ms per task.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from PIL import Image, ImageDraw

MODEL = "strata:classic@1"
API_KEY = "benchmark-key"
SIDE = 512  # 512 x 512 = 0.26 MP


@dataclass
class Outcome:
    latency: float  # seconds from sending the task to receiving its result frame
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # from the server, when it sends them
    engine_s: float | None = None  # the paired in-process engine run (sequential phase)


@dataclass
class Phase:
    name: str
    clients: int
    wall: float
    outcomes: list[Outcome]

    @property
    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is None]


def poster_png(path: Path | None) -> bytes:
    """A 512 x 512 design (given image resized, or a drawn poster: gradient, card, photo-like block, text)."""
    if path is not None:
        image = Image.open(path).convert("RGB").resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    else:
        image = Image.new("RGB", (SIDE, SIDE))
        draw = ImageDraw.Draw(image)
        for y in range(SIDE):
            draw.line([(0, y), (SIDE, y)], fill=(30 + y // 4, 60, 140 - y // 8))
        draw.rounded_rectangle([40, 300, 472, 470], radius=24, fill=(245, 240, 230))
        for i in range(12):
            draw.ellipse(
                [60 + i * 30, 60 + (i % 3) * 40, 140 + i * 30, 140 + (i % 3) * 40], fill=(200, 20 * i, 90)
            )
        for row in range(3):
            draw.text((70, 320 + row * 40), f"STRATA LOAD TEST {row}", fill=(20, 20, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class EngineProbe:
    """The classic engine in this process, to time it on the benchmark image (server idle meanwhile)."""

    def __init__(self, png: bytes, layers: int) -> None:
        from strata.engines import get_engine
        from strata.imaging.decode import open_image

        self.engine, self.image, self.layers = get_engine("classic"), open_image(png), layers

    def seconds(self) -> float:
        started = time.perf_counter()
        self.engine.decompose(self.image, self.layers, {})
        return time.perf_counter() - started


def stage_breakdown(png: bytes, layers: int, fmt: str, runs: int) -> dict[str, float]:
    """Median ms of each stage the server runs per result, measured in-process."""
    from strata.engines import get_engine
    from strata.imaging.decode import open_image
    from strata.tasks.outputs import encode_primary  # the server's own per-result encoding

    engine = get_engine("classic")
    stages: dict[str, list[float]] = {"decode": [], "engine": [], f"encode {fmt} (primary file)": []}
    for _ in range(runs):
        marks = [time.perf_counter()]
        image = open_image(png)
        marks.append(time.perf_counter())
        stack = engine.decompose(image, layers, {})
        marks.append(time.perf_counter())
        encode_primary(stack, fmt, 95)
        marks.append(time.perf_counter())
        for name, start, end in zip(stages, marks, marks[1:], strict=False):
            stages[name].append(end - start)
    return {name: ms(statistics.median(values)) for name, values in stages.items()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server(port: int, data_dir: str, log_path: Path) -> Iterator[str]:
    """``strata serve`` in a subprocess; yields its WebSocket URL once /readyz says the engine is loaded."""
    env = {**os.environ, "STRATA_API_KEYS": API_KEY, "STRATA_QUEUE_SIZE": "256"}
    command = [sys.executable, "-m", "strata", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*command, "--data-dir", data_dir], env=env, stdout=log, stderr=log)
        try:
            wait_ready(port, process, log_path)
            yield f"ws://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(port: int, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"strata serve exited ({process.returncode}):\n{log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    sys.exit(f"strata serve not ready after {timeout:.0f} s:\n{log_path.read_text()[-2000:]}")


def task(data_uri: str, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": MODEL,
        "positivePrompt": "separate the layers",
        "inputs": {"referenceImages": [data_uri]},
        "settings": {"layers": args.layers},
        "outputType": args.output_type,
        "outputFormat": args.output_format,
        "numberResults": 1,
    }


@contextlib.asynccontextmanager
async def session(url: str) -> Any:
    """An authenticated WebSocket connection."""
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps([{"taskType": "authentication", "apiKey": API_KEY}]))
        reply = json.loads(await ws.recv())
        if not reply.get("data") or "connectionSessionUUID" not in reply["data"][0]:
            raise SystemExit(f"authentication failed: {reply}")
        yield ws


async def client(url: str, data_uri: str, args: argparse.Namespace, claim: Any, out: list[Outcome]) -> None:
    """One connection sending tasks one at a time until ``claim()`` says stop."""
    async with session(url) as ws:
        while claim():
            out.append(await one_task(ws, task(data_uri, args)))


async def sequential_phase(url: str, data_uri: str, args: argparse.Namespace, probe: EngineProbe) -> Phase:
    """One client; each task preceded by an in-process engine run on the same image."""
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    async with session(url) as ws:
        for _ in range(args.sequential):
            engine_s = probe.seconds()
            outcome = await one_task(ws, task(data_uri, args))
            outcome.engine_s = engine_s
            outcomes.append(outcome)
    return Phase("sequential", 1, time.perf_counter() - started, outcomes)


async def one_task(ws: Any, request: dict[str, Any]) -> Outcome:
    task_uuid = request["taskUUID"]
    started = time.perf_counter()
    await ws.send(json.dumps([request]))
    while True:
        frame = await ws.recv()
        received = time.perf_counter()
        message = json.loads(frame)
        for error in message.get("errors", []):
            if error.get("taskUUID") == task_uuid:
                return Outcome(received - started, error=str(error.get("code")))
        for item in message.get("data", []):
            if item.get("taskUUID") == task_uuid and item.get("imageUUID"):
                check_output(item, request["outputType"])
                return Outcome(received - started, timings=item.get("timings") or {})


def check_output(item: dict[str, Any], output_type: str) -> None:
    """Make sure the benchmark measures real results, not errors dressed as successes."""
    if output_type == "base64Data":
        head = base64.b64decode(item["imageBase64Data"][:16])
        assert head[:4] in (b"II*\x00", b"MM\x00*", b"\x89PNG") or head[:2] == b"\xff\xd8", head
    elif output_type == "URL":
        assert item["imageURL"].startswith("http"), item


async def load_phase(url: str, data_uri: str, clients: int, args: argparse.Namespace) -> Phase:
    """``clients`` connections sharing ``args.tasks`` tasks, within ``args.max_seconds``."""
    tasks_total = args.tasks
    deadline = time.monotonic() + args.max_seconds
    issued = 0

    def claim() -> bool:
        nonlocal issued
        if issued >= tasks_total or time.monotonic() > deadline:
            return False
        issued += 1
        return True

    outcomes: list[Outcome] = []
    started = time.perf_counter()
    await asyncio.gather(*(client(url, data_uri, args, claim, outcomes) for _ in range(clients)))
    return Phase("load", clients, time.perf_counter() - started, outcomes)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarise(phase: Phase) -> dict[str, Any]:
    ok = phase.ok
    latencies = [o.latency for o in ok]
    summary: dict[str, Any] = {
        "phase": phase.name,
        "clients": phase.clients,
        "tasks_ok": len(ok),
        "errors": sorted({o.error for o in phase.outcomes if o.error}),
        "wall_s": round(phase.wall, 2),
        "throughput_tasks_per_s": round(len(ok) / phase.wall, 2) if phase.wall else 0.0,
    }
    if not latencies:
        return summary
    summary |= {"p50_ms": ms(percentile(latencies, 50)), "p99_ms": ms(percentile(latencies, 99))}
    if all(o.engine_s is not None for o in ok):
        summary["engine_in_process_p50_ms"] = ms(percentile([o.engine_s or 0.0 for o in ok], 50))
    if all("engineMs" in o.timings for o in ok):  # the server's own figures, usable under load too
        overheads = [o.latency * 1000 - o.timings["engineMs"] - o.timings.get("queueMs", 0) for o in ok]
        summary["queue_p50_ms"] = round(percentile([o.timings.get("queueMs", 0) for o in ok], 50), 1)
        summary["engine_p50_ms"] = round(percentile([o.timings["engineMs"] for o in ok], 50), 1)
        summary["overhead_source"] = "server timings"
        summary["overhead_p50_ms"] = round(percentile(overheads, 50), 1)
        summary["overhead_p99_ms"] = round(percentile(overheads, 99), 1)
        if all("totalMs" in o.timings for o in ok):  # split: inside the server vs. socket and client
            inside = [o.timings["totalMs"] - o.timings["engineMs"] - o.timings.get("queueMs", 0) for o in ok]
            summary["overhead_in_server_p50_ms"] = round(percentile(inside, 50), 1)
            wire = [o.latency * 1000 - o.timings["totalMs"] for o in ok]
            summary["overhead_wire_and_client_p50_ms"] = round(percentile(wire, 50), 1)
    elif all(o.engine_s is not None for o in ok):  # no queueing: latency - paired engine time
        overheads = [o.latency - (o.engine_s or 0.0) for o in ok]
        summary["overhead_source"] = "paired in-process engine runs"
        summary["overhead_p50_ms"] = ms(percentile(overheads, 50))
        summary["overhead_p99_ms"] = ms(percentile(overheads, 99))
    return summary


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=int, default=32, help="concurrent WebSocket clients in the load phase"
    )
    parser.add_argument(
        "--tasks", type=int, default=96, help="tasks in the load phase (all clients together)"
    )
    parser.add_argument("--sequential", type=int, default=20, help="tasks in the 1-client phase (0: skip)")
    parser.add_argument("--max-seconds", type=float, default=180, help="time box per phase")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--output-type", choices=["base64Data", "dataURI", "URL"], default="base64Data")
    parser.add_argument("--output-format", default="TIFF", help="TIFF (default for layered models), PNG, ...")
    parser.add_argument("--stage-runs", type=int, default=5, help="runs for the in-process stage breakdown")
    parser.add_argument(
        "--image", type=Path, help="use this image (resized to 512x512) instead of a drawn one"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)  # before the run, not after it
    png = poster_png(args.image)
    data_uri = "data:image/png;base64," + base64.b64encode(png).decode()
    probe = EngineProbe(png, args.layers)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform(terse=True)}",
        "python": platform.python_version(),
        # Other processes share the CPUs: the 1-minute load average puts the figures in context.
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "image": f"{SIDE}x{SIDE} PNG, {len(png)} bytes",
        "request": {
            "model": MODEL,
            "layers": args.layers,
            "outputType": args.output_type,
            "outputFormat": args.output_format,
        },
        "stages_in_process_ms": stage_breakdown(png, args.layers, args.output_format, args.stage_runs),
        "phases": [],
    }
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as data_dir:
        log_path = Path(data_dir) / "server.log"
        with running_server(free_port(), str(Path(data_dir) / "data"), log_path) as url:
            if args.sequential:
                phase = asyncio.run(sequential_phase(url, data_uri, args, probe))
                results["phases"].append(summarise(phase))
            phase = asyncio.run(load_phase(url, data_uri, args.clients, args))
            results["phases"].append(summarise(phase))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
