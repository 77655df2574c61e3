"""Start the real ``strata serve`` in a subprocess on a free loopback port, and stop it by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

API_KEY = "test-key-0123456789"


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def alive(self) -> bool:
        return self.process.poll() is None and httpx.get(f"{self.http}/healthz", timeout=5).status_code == 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    data_dir: Path, env: dict[str, str] | None = None, *, ready: bool = True, port: int | None = None
) -> RunningServer:
    """Run ``python -m strata serve`` and wait until /readyz (or /healthz) answers 200."""
    port = port or free_port()
    log = data_dir.parent / f"server-{port}.log"
    full_env = {**os.environ, "STRATA_API_KEYS": API_KEY, **(env or {})}
    command = [sys.executable, "-m", "strata", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    server = RunningServer(process, port, data_dir, log)
    deadline = time.monotonic() + 30
    path = "/readyz" if ready else "/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.http}{path}", timeout=2).status_code == 200:
                return server
        time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"server did not become ready: {log.read_text()}")


def stop(server: RunningServer) -> None:
    """SIGTERM by PID, then SIGKILL if it does not exit."""
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)


@contextlib.contextmanager
def running(
    data_dir: Path, env: dict[str, str] | None = None, *, port: int | None = None
) -> Iterator[RunningServer]:
    server = start(data_dir, env, port=port)
    try:
        yield server
    finally:
        stop(server)
