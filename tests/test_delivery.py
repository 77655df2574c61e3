"""Webhook POSTs and uploadEndpoint PUTs against real loopback servers: payloads, retries, backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator

import httpcore
import pytest

from http_loopback import Received, Reply, loopback_server
from strata.config import Settings
from strata.errors import StrataError
from strata.net import guard
from strata.tasks.delivery import post_webhook, put_upload

ITEM = {"taskType": "imageInference", "taskUUID": "a770f077-f413-47de-9dac-be0b26a35da6", "imageUUID": "x"}


def settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "allow_hosts": ["127.0.0.1"],
        "delivery_attempts": 3,
        "delivery_backoff": 0.05,
        "delivery_timeout": 2.0,
    }
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


def fails_then_succeeds(failures: int, status: int = 503):  # type: ignore[no-untyped-def]
    def respond(request: Received) -> Reply:
        seen = respond.count  # type: ignore[attr-defined]
        respond.count += 1  # type: ignore[attr-defined]
        return Reply(status if seen < failures else 200, body=b"ok")

    respond.count = 0  # type: ignore[attr-defined]
    return respond


def test_webhook_retries_with_exponential_backoff_then_delivers() -> None:
    with loopback_server(fails_then_succeeds(2)) as server:
        payload = {"data": [ITEM]}
        asyncio.run(post_webhook(f"{server.url}/hook?token=abc", payload, settings=settings()))
    assert len(server.received) == 3
    for request in server.received:
        assert request.method == "POST"
        assert request.path == "/hook?token=abc"
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.body) == payload
    first_gap = server.received[1].at - server.received[0].at
    second_gap = server.received[2].at - server.received[1].at
    assert first_gap >= 0.05
    assert second_gap >= 0.1  # doubled


def test_webhook_gives_up_quietly_and_logs_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="strata.delivery")
    with loopback_server(lambda r: Reply(500)) as server:
        asyncio.run(post_webhook(f"{server.url}/hook?token=s3cret", {"errors": []}, settings=settings()))
    assert len(server.received) == 3
    assert "not delivered" in caplog.text and "HTTP 500" in caplog.text
    assert "s3cret" not in caplog.text


def test_webhook_client_errors_are_not_retried_but_429_is() -> None:
    with loopback_server(lambda r: Reply(404)) as server:
        asyncio.run(post_webhook(f"{server.url}/gone", {"data": [ITEM]}, settings=settings()))
    assert len(server.received) == 1
    with loopback_server(fails_then_succeeds(1, status=429)) as server:
        asyncio.run(post_webhook(f"{server.url}/busy", {"data": [ITEM]}, settings=settings()))
    assert len(server.received) == 2


def test_webhook_to_a_private_address_is_refused_without_connecting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["10.0.0.5"]

    async def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(guard, "resolve", resolve)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", forbidden)
    asyncio.run(post_webhook("http://hooks.internal/x", {"data": [ITEM]}, settings=settings()))
    assert "private address" in caplog.text and "10.0.0.5" not in caplog.text
    with pytest.raises(StrataError) as caught:
        asyncio.run(put_upload("http://bucket.internal/x", b"data", "image/png", settings=settings()))
    assert caught.value.code == "uploadFailed"
    assert "private address" in caught.value.message


def test_upload_puts_raw_bytes_with_content_type_after_a_retry() -> None:
    data = bytes(range(256)) * 64
    with loopback_server(fails_then_succeeds(1, status=502)) as server:
        asyncio.run(
            put_upload(f"{server.url}/bucket/a.tiff?X-Sig=1", data, "image/tiff", settings=settings())
        )
    assert [r.method for r in server.received] == ["PUT", "PUT"]
    assert server.received[-1].headers["Content-Type"] == "image/tiff"
    assert server.received[-1].body == data


@pytest.mark.parametrize(("status", "requests"), [(500, 3), (403, 1)])
def test_upload_failure_is_upload_failed(status: int, requests: int) -> None:
    with loopback_server(lambda r: Reply(status)) as server, pytest.raises(StrataError) as caught:
        asyncio.run(put_upload(f"{server.url}/b?X-Sig=secret", b"x", "image/png", settings=settings()))
    assert f"HTTP {status}" in caught.value.message
    assert caught.value.code == "uploadFailed"
    assert caught.value.parameter == "uploadEndpoint"
    assert "secret" not in caught.value.message
    assert len(server.received) == requests


def test_upload_to_a_closed_port_is_retried_then_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StrataError, match=r"connection failed.*attempt 2 of 2") as caught:
        asyncio.run(
            put_upload(
                f"http://127.0.0.1:{port}/x", b"x", "image/png", settings=settings(delivery_attempts=2)
            )
        )
    assert caught.value.code == "uploadFailed"


def test_upload_to_a_non_http_url_fails_at_once() -> None:
    with pytest.raises(StrataError) as caught:
        asyncio.run(put_upload("file:///tmp/x", b"x", "image/png", settings=settings()))
    assert caught.value.code == "uploadFailed"


def test_the_answer_body_is_never_read() -> None:
    """Only the status matters: a target answering 200 with an endless body must not hold us."""

    def endless() -> Iterator[bytes]:
        for _ in range(200):  # ~4 s of 1 MiB chunks, longer than the 2 s delivery timeout
            time.sleep(0.02)
            yield b"x" * (1 << 20)

    with loopback_server(lambda r: Reply(200, body=endless())) as server:
        started = time.monotonic()
        asyncio.run(put_upload(f"{server.url}/put", b"data", "image/png", settings=settings()))
    assert time.monotonic() - started < 1.5
    assert len(server.received) == 1
