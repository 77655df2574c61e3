"""A real HTTP server on 127.0.0.1 for outbound-request tests (downloads, webhooks, uploads).

Each test passes a ``respond(request) -> Reply`` function; every request the server receives is
recorded, so a test can assert what arrived (method, headers, body) and when.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class Loopback:
    url: str
    port: int
    received: list[Received] = field(default_factory=list)


@contextmanager
def loopback_server(
    respond: Callable[[Received], Reply], *, tls: ssl.SSLContext | None = None
) -> Iterator[Loopback]:
    """Serve ``respond`` on a free 127.0.0.1 port during the ``with`` block (HTTPS when ``tls`` is given)."""
    state: Loopback

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(
                self.command, self.path, dict(self.headers.items()), self.rfile.read(length), time.monotonic()
            )
            state.received.append(request)
            reply = respond(request)
            time.sleep(reply.delay)
            # The client may give up (timeouts, size limits): that is what some tests check.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._send(reply)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if isinstance(reply.body, bytes):
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in reply.body:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    state = Loopback(url=f"{'https' if tls else 'http'}://127.0.0.1:{port}", port=port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
