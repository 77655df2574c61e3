"""The SSRF-safe downloader: refusals without connecting, redirects re-checked, limits on the allowed path.

Only 127.0.0.1 is ever contacted. Refused addresses come from a stubbed resolver, and every connect
path (httpcore's backend, asyncio, raw sockets) is armed to fail the test if it is reached.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import httpcore
import pytest
from PIL import Image

from http_loopback import Reply, loopback_server
from strata.config import Settings
from strata.errors import StrataError
from strata.net import NetPolicy, blocked_reason, fetch_image_bytes, guard

PNG = io.BytesIO()
Image.new("RGB", (32, 16), (200, 30, 40)).save(PNG, format="PNG")
PNG_BYTES = PNG.getvalue()


def settings(**overrides: object) -> Settings:
    base: dict[str, object] = {"fetch_timeout": 5.0, "allow_hosts": [], "allow_private_networks": False}
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


def fetch(url: str, **overrides: object) -> bytes:
    return asyncio.run(fetch_image_bytes(url, settings=settings(**overrides)))


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any TCP connection is attempted, by any layer."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a connection was attempted: {args[1:]!r}")

    async def forbidden_async(*args: object, **kwargs: object) -> None:
        forbidden(*args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", forbidden_async)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", forbidden_async)
    monkeypatch.setattr(socket.socket, "connect", forbidden)


def stub_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Resolve the names in ``answers`` to the given addresses, others (IP literals) for real."""
    asked: list[str] = []
    real = guard.resolve

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host] if host in answers else await real(host, port)

    monkeypatch.setattr(guard, "resolve", resolve)
    return asked


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.5", "private"),
        ("192.168.1.20", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::5", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:5", "private"),
        ("2002:a00:5::1", "private"),
    ],
)
def test_non_public_addresses_are_refused_without_connecting(
    monkeypatch: pytest.MonkeyPatch, no_connect: None, address: str, kind: str
) -> None:
    asked = stub_dns(monkeypatch, {"images.example": [address]})
    with pytest.raises(StrataError) as caught:
        fetch("https://images.example/cat.png")
    assert caught.value.code == "unsafeUrl"
    assert f"a {kind} address" in caught.value.message
    assert "\n" not in caught.value.message
    assert asked == ["images.example"]


def test_one_private_address_among_public_ones_is_enough_to_refuse(
    monkeypatch: pytest.MonkeyPatch, no_connect: None
) -> None:
    stub_dns(monkeypatch, {"images.example": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(StrataError, match="resolves to a private address") as caught:
        fetch("http://images.example/cat.png")
    assert caught.value.code == "unsafeUrl"


@pytest.mark.parametrize(
    "address",
    # The IPv6 forms that tunnel to the IPv4 metadata address (mapped, NAT64, 6to4) reach it too.
    ["169.254.169.254", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"],
)
def test_metadata_address_needs_an_explicit_entry_even_with_private_networks_allowed(
    monkeypatch: pytest.MonkeyPatch, no_connect: None, address: str
) -> None:
    stub_dns(monkeypatch, {"metadata.internal": [address]})
    with pytest.raises(StrataError) as caught:
        fetch("http://metadata.internal/latest/meta-data/", allow_private_networks=True)
    assert caught.value.code == "unsafeUrl"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://x/", "x.png"])
def test_other_schemes_are_refused(no_connect: None, url: str) -> None:
    with pytest.raises(StrataError) as caught:
        fetch(url)
    assert caught.value.code == "unsafeUrl"


def test_policy_allow_list_by_cidr_and_by_name() -> None:
    policy = NetPolicy.from_settings(settings(allow_hosts=["10.0.0.0/8", "Files.Corp."]))
    assert policy.refusal("nas", "10.1.2.3") is None
    assert policy.refusal("nas", "::ffff:10.1.2.3") is None
    assert policy.refusal("files.corp", "192.168.0.9") is None
    assert policy.refusal("nas", "192.168.0.9") is not None
    assert policy.refusal("nas", "169.254.169.254") is not None
    assert policy.refusal("example.com", "93.184.216.34") is None
    private = NetPolicy.from_settings(settings(allow_private_networks=True))
    assert private.refusal("nas", "192.168.0.9") is None
    assert private.refusal("nas", "224.0.0.1") is not None
    assert blocked_reason(guard.ipaddress.ip_address("2606:4700::1111")) is None


def test_real_resolver_answers_ip_literals_without_dns() -> None:
    assert asyncio.run(guard.resolve("127.0.0.1", 80)) == ["127.0.0.1"]


def test_loopback_is_refused_until_allow_listed() -> None:
    with loopback_server(lambda r: Reply(body=PNG_BYTES)) as server:
        with pytest.raises(StrataError) as caught:
            fetch(f"{server.url}/cat.png")
        assert caught.value.code == "unsafeUrl"
        assert server.received == []
        assert fetch(f"{server.url}/cat.png", allow_hosts=["127.0.0.1"]) == PNG_BYTES
        assert len(server.received) == 1


def test_redirect_to_metadata_is_refused_and_never_contacted(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = stub_dns(monkeypatch, {"metadata.internal": ["169.254.169.254"]})
    connected: list[str] = []
    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def loopback_only(self: object, host: str, port: int, **kwargs: object) -> object:
        assert host == "127.0.0.1", f"connection attempted to {host}"
        connected.append(host)
        return await real_connect(self, host, port, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", loopback_only)
    redirect = Reply(302, {"Location": "http://metadata.internal/latest/meta-data/"})
    with (
        loopback_server(lambda r: redirect) as server,
        pytest.raises(StrataError, match="resolves to a link-local address") as caught,
    ):
        fetch(f"{server.url}/start", allow_hosts=["127.0.0.1"])
    assert caught.value.code == "unsafeUrl"
    assert [r.path for r in server.received] == ["/start"]
    assert asked == ["127.0.0.1", "metadata.internal"]
    assert connected == ["127.0.0.1"]


def test_host_is_resolved_once_and_pinned_with_host_header_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([["127.0.0.1"], ["10.0.0.5"]])  # a rebinding DNS server changes its answer
    resolved: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        resolved.append(host)
        return next(answers)

    monkeypatch.setattr(guard, "resolve", rebinding)
    with loopback_server(lambda r: Reply(body=PNG_BYTES)) as server:
        data = fetch(f"http://images.test:{server.port}/cat.png", allow_hosts=["127.0.0.1/32"])
    assert data == PNG_BYTES
    assert resolved == ["images.test"]
    assert server.received[0].headers["Host"] == f"images.test:{server.port}"


def test_relative_redirects_are_followed_and_bounded() -> None:
    def respond(request):  # type: ignore[no-untyped-def]
        if request.path == "/loop":
            return Reply(302, {"Location": "/loop"})
        if request.path == "/old":
            return Reply(301, {"Location": "/new.png"})
        return Reply(body=PNG_BYTES, headers={"Content-Type": "image/png"})

    with loopback_server(respond) as server:
        assert fetch(f"{server.url}/old", allow_hosts=["127.0.0.1"]) == PNG_BYTES
        with pytest.raises(StrataError, match="redirected more than 2 times") as caught:
            fetch(f"{server.url}/loop", allow_hosts=["127.0.0.1"], fetch_max_redirects=2)
    assert caught.value.code == "downloadFailed"
    assert [r.path for r in server.received][-3:] == ["/loop"] * 3


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=[b"x" * 4096] * 10),  # chunked, no length: cut while streaming
        Reply(body=b"x" * 40_000),  # declared Content-Length above the limit
    ],
    ids=["streamed", "declared"],
)
def test_bodies_over_the_byte_limit_fail(reply: Reply) -> None:
    with (
        loopback_server(lambda r: reply) as server,
        pytest.raises(StrataError, match="larger than the limit of 20000 bytes") as caught,
    ):
        fetch(f"{server.url}/big", allow_hosts=["127.0.0.1"], fetch_max_bytes=20_000)
    assert caught.value.code == "downloadFailed"


def test_slow_server_times_out() -> None:
    with (
        loopback_server(lambda r: Reply(body=PNG_BYTES, delay=1.5)) as server,
        pytest.raises(StrataError, match=r"timed out|took longer") as caught,
    ):
        fetch(f"{server.url}/slow", allow_hosts=["127.0.0.1"], fetch_timeout=0.3)
    assert caught.value.code == "downloadFailed"


def test_http_errors_and_refused_connections_are_download_failures() -> None:
    with (
        loopback_server(lambda r: Reply(404, body=b"not here")) as server,
        pytest.raises(StrataError, match="answered HTTP 404") as caught,
    ):
        fetch(f"{server.url}/missing.png?token=secret", allow_hosts=["127.0.0.1"])
    assert caught.value.code == "downloadFailed"
    assert "secret" not in caught.value.message
    with pytest.raises(StrataError) as closed:
        fetch(f"http://127.0.0.1:{server.port}/gone.png", allow_hosts=["127.0.0.1"])
    assert closed.value.code == "downloadFailed"


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_to_a_pinned_address_verifies_the_url_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, "images.test")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setattr(guard, "_ssl_context", lambda: ssl.create_default_context(cafile=str(cert)))
    stub_dns(monkeypatch, {"images.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    with loopback_server(lambda r: Reply(body=PNG_BYTES), tls=server_tls) as server:
        data = fetch(f"https://images.test:{server.port}/cat.png", allow_hosts=["127.0.0.1"])
        with pytest.raises(StrataError, match="certificate") as caught:
            fetch(f"https://other.test:{server.port}/cat.png", allow_hosts=["127.0.0.1"])
    assert data == PNG_BYTES
    assert caught.value.code == "downloadFailed"
    assert server.received[0].headers["Host"] == f"images.test:{server.port}"
