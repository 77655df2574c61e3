"""Download a reference image from an http(s) URL: guarded, time-boxed, size-capped.

Redirects are followed here, one hop at a time and at most ``STRATA_FETCH_MAX_REDIRECTS`` of them,
so that each new location goes through the scheme check and the address guard again (a public
server must not be able to bounce us to ``http://169.254.169.254/``).
"""

from __future__ import annotations

import asyncio
import typing

import httpx

from strata.errors import StrataError
from strata.net.guard import NetPolicy, display_url, guarded_client, http_url


class DownloadFailed(StrataError):
    """The URL could not be downloaded: network or HTTP error, timeout, or too large."""

    code = "downloadFailed"


async def fetch_image_bytes(url: str, *, settings: typing.Any) -> bytes:
    """Return the body of ``url`` (http or https only), within the settings' time and byte limits.

    Raises :class:`UnsafeUrl` (``unsafeUrl``) without connecting when the host resolves to a
    non-public address that the allow-list does not cover, and :class:`DownloadFailed`
    (``downloadFailed``) for everything else that goes wrong.

    >>> await fetch_image_bytes("https://example.com/a.png", settings=load_settings())  # doctest: +SKIP
    """
    policy = NetPolicy.from_settings(settings)
    try:
        async with asyncio.timeout(policy.timeout), guarded_client(policy) as client:
            return await _follow(client, url, policy)
    except TimeoutError:
        raise DownloadFailed(
            f"downloading {display_url(url)} took longer than {policy.timeout:g} s"
        ) from None
    except httpx.TimeoutException:
        raise DownloadFailed(f"downloading {display_url(url)} timed out") from None
    except httpx.HTTPError as exc:
        raise DownloadFailed(f"cannot download {display_url(url)}: {_reason(exc)}") from None


async def _follow(client: httpx.AsyncClient, url: str, policy: NetPolicy) -> bytes:
    target = http_url(url)
    for _hop in range(policy.max_redirects + 1):
        async with client.stream("GET", target, headers={"Accept": "image/*"}) as response:
            if response.is_redirect:
                target = http_url(response.headers["location"], base=target)
                continue
            if response.status_code != 200:
                raise DownloadFailed(f"{display_url(target)} answered HTTP {response.status_code}")
            return await _read_capped(response, policy.max_bytes, target)
    raise DownloadFailed(f"{display_url(url)} redirected more than {policy.max_redirects} times")


async def _read_capped(response: httpx.Response, max_bytes: int, url: httpx.URL) -> bytes:
    too_large = DownloadFailed(
        f"{display_url(url)} is larger than the limit of {max_bytes} bytes (STRATA_FETCH_MAX_BYTES)"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    received = 0
    # Counted after content decoding, so a gzip bomb is cut off at the same limit.
    async for chunk in response.aiter_bytes():
        received += len(chunk)
        if received > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
