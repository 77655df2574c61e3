"""Deliver results outside the socket: webhook POSTs and ``uploadEndpoint`` PUTs.

Both go through the same SSRF guard as image downloads, and both retry a bounded number of times
(``STRATA_DELIVERY_ATTEMPTS``) with exponential backoff (``STRATA_DELIVERY_BACKOFF`` seconds, then
doubled) when the failure may be temporary: a connection error, a timeout, HTTP 429 or 5xx. Any
other answer (a 403 from an expired presigned URL, say) is final at once. Log lines show the target
without its query string, where webhook tokens and presigned signatures live.
"""

from __future__ import annotations

import asyncio
import json
import logging
import typing
from dataclasses import dataclass

import httpx

from strata.errors import StrataError
from strata.net.guard import NetPolicy, display_url, guarded_client, http_url

log = logging.getLogger("strata.delivery")

#: Upper bound for a server's Retry-After we are willing to honour, in seconds.
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class _Attempt:
    """The outcome of one failed request: why, and whether another try may succeed."""

    reason: str
    retryable: bool
    retry_after: float | None = None


async def post_webhook(url: str, payload: dict[str, typing.Any], *, settings: typing.Any) -> None:
    """POST ``payload`` as JSON to ``url``; retried, and never raises because delivery failed.

    Runware posts one call per completed item, ``{"data": [item]}`` or ``{"errors": [...]}``.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    try:
        await _deliver("POST", url, body, "application/json", settings)
    except StrataError as exc:
        log.warning("webhook to %s not delivered: %s", display_url(url), exc.message)


async def put_upload(url: str, data: bytes, content_type: str, *, settings: typing.Any) -> None:
    """PUT the raw bytes of a generated file to ``url`` (e.g. a presigned S3/GCS URL), with retries.

    Raises ``StrataError(code="uploadFailed", parameter="uploadEndpoint")`` after the last failure.
    """
    try:
        await _deliver("PUT", url, data, content_type, settings)
    except StrataError as exc:
        log.warning("upload to %s failed: %s", display_url(url), exc.message)
        raise StrataError(
            f"upload to {display_url(url)} failed: {exc.message}",
            code="uploadFailed",
            parameter="uploadEndpoint",
        ) from None


async def _deliver(method: str, url: str, body: bytes, content_type: str, settings: typing.Any) -> None:
    http_url(url)  # a wrong scheme or a malformed URL fails at once, without retries
    policy = NetPolicy.from_settings(settings)
    attempts: int = settings.delivery_attempts
    headers = {"Content-Type": content_type, "User-Agent": "strata"}
    async with guarded_client(policy, timeout=settings.delivery_timeout) as client:
        for attempt in range(1, attempts + 1):
            failure = await _attempt(client, method, url, body, headers, settings.delivery_timeout)
            if failure is None:
                return
            if not failure.retryable or attempt == attempts:
                raise StrataError(f"{failure.reason} (attempt {attempt} of {attempts})")
            delay = settings.delivery_backoff * 2 ** (attempt - 1)
            if failure.retry_after is not None:
                delay = max(delay, failure.retry_after)
            log.info("%s %s: %s; retrying in %.2f s", method, display_url(url), failure.reason, delay)
            await asyncio.sleep(delay)


async def _attempt(
    client: httpx.AsyncClient, method: str, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> _Attempt | None:
    """Send once; None on a 2xx answer. :class:`UnsafeUrl` propagates: a refused target stays refused."""
    try:
        async with (
            asyncio.timeout(timeout),
            # Streamed and never read: only the status matters, and the target's body could be endless.
            client.stream(method, url, content=body, headers=headers) as response,
        ):
            pass
    except (TimeoutError, httpx.TimeoutException):
        return _Attempt(f"no answer within {timeout:g} s", retryable=True)
    except httpx.TransportError as exc:
        return _Attempt(f"connection failed ({str(exc).splitlines()[0][:160] or type(exc).__name__})", True)
    except httpx.HTTPError as exc:  # invalid URL and the like: retrying cannot help
        return _Attempt(f"bad target ({type(exc).__name__})", retryable=False)
    if response.is_success:
        return None
    status = response.status_code
    retryable = status == 429 or status >= 500
    return _Attempt(f"HTTP {status}", retryable, _retry_after(response) if retryable else None)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None  # the HTTP-date form is rare for these APIs; the backoff applies instead
