"""``strata serve`` refuses to expose an unauthenticated server and prints its address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

import strata_server


def serve(*args: str, keys: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STRATA_API_KEYS": keys}
    command = [sys.executable, "-m", "strata", "serve", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_non_loopback_without_a_key_is_refused_in_one_line() -> None:
    result = serve("--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("strata: error: refusing to listen on 0.0.0.0 without an API key")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_bad_setting_is_one_line() -> None:
    result = serve("--port", "70000")
    assert result.returncode == 1 and result.stderr.startswith("strata: error: bad setting STRATA_PORT")


def test_loopback_without_a_key_serves_and_prints_the_address(tmp_path: Path) -> None:
    server = strata_server.start(tmp_path / "data", {"STRATA_API_KEYS": ""})
    try:
        auth = [{"taskType": "authentication", "apiKey": "anything"}]
        assert httpx.post(f"{server.http}/v1", json=auth, timeout=10).status_code == 200
        page = httpx.get(f"{server.http}/", timeout=10)
        assert page.status_code == 200 and "<title>strata" in page.text
    finally:
        strata_server.stop(server)
    printed = server.log.read_text()
    assert f"ws://127.0.0.1:{server.port}/v1" in printed
    # The editor's address is printed, and it is the page, not the API's 404.
    assert f"open http://127.0.0.1:{server.port}/ in a browser" in printed
