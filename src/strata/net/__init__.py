"""Outbound networking and inline data: SSRF-safe downloads, guarded clients, data URIs."""

from strata.net.datauri import decode_data_uri_or_base64
from strata.net.fetch import DownloadFailed, fetch_image_bytes
from strata.net.guard import NetPolicy, UnsafeUrl, blocked_reason, display_url, guarded_client, http_url

__all__ = [
    "DownloadFailed",
    "NetPolicy",
    "UnsafeUrl",
    "blocked_reason",
    "decode_data_uri_or_base64",
    "display_url",
    "fetch_image_bytes",
    "guarded_client",
    "http_url",
]
