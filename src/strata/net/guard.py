"""The SSRF guard: every outbound connection resolves its host once, checks every address, then pins one.

Outbound requests (image URLs, webhooks, upload endpoints) come from untrusted clients, so a request
for ``http://metadata.internal/`` must not reach the cloud metadata service, and a host whose DNS
answer changes between "check" and "connect" (DNS rebinding) must not slip through. The guard sits
where httpcore opens its TCP connections: :class:`GuardedBackend` resolves the host itself, refuses
the connection before any packet is sent when *any* resolved address is not public, and connects to
the checked IP literal. TLS still uses the URL's host name for SNI and certificate checks, and the
``Host`` header comes from the URL, so pinning is invisible to the server.

The allow-list (``STRATA_ALLOW_HOSTS``: host names or CIDR blocks; ``STRATA_ALLOW_PRIVATE_NETWORKS``)
lets tests and closed deployments opt in. Even with private networks allowed, the cloud metadata
addresses, multicast, unspecified and reserved addresses stay refused unless listed explicitly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import typing
from dataclasses import dataclass
from functools import lru_cache

import httpcore
import httpx

from strata.errors import InvalidParameter, StrataError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6); never covered by the
#: private-network switch, only by an explicit allow-list entry.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Reasons the private-network switch may override.
_PRIVATE_REASONS = frozenset({"loopback", "private", "link-local", "non-public"})
_ALLOW_HINT = "set STRATA_ALLOW_HOSTS or STRATA_ALLOW_PRIVATE_NETWORKS to allow it"


class UnsafeUrl(StrataError):
    """An outbound URL was refused before connecting: not http(s), or its host is not public."""

    code = "unsafeUrl"


@dataclass(frozen=True)
class NetPolicy:
    """What outbound requests may reach, and their limits; built from :class:`strata.config.Settings`."""

    allow_private_networks: bool = False
    allow_names: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()
    timeout: float = 20.0
    connect_timeout: float = 5.0
    max_bytes: int = 32 * 1024 * 1024
    max_redirects: int = 5

    @classmethod
    def from_settings(cls, settings: typing.Any) -> NetPolicy:
        """Read the ``allow_*`` and ``fetch_*`` fields of the server settings."""
        names, networks = _parse_allow_list(settings.allow_hosts)
        return cls(
            allow_private_networks=settings.allow_private_networks,
            allow_names=names,
            allow_networks=networks,
            timeout=settings.fetch_timeout,
            connect_timeout=min(5.0, settings.fetch_timeout),
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
        )

    def refusal(self, host: str, address: str) -> str | None:
        """Why connecting to ``address`` (resolved from ``host``) is refused, or None when allowed."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        reason = blocked_reason(ip)
        if reason is None or host.lower().rstrip(".") in self.allow_names:
            return None
        if any(_embedded_ipv4(ip) in net or ip in net for net in self.allow_networks):
            return None
        metadata = ip in METADATA_ADDRESSES or _embedded_ipv4(ip) in METADATA_ADDRESSES
        if self.allow_private_networks and reason in _PRIVATE_REASONS and not metadata:
            return None
        # The address itself is not echoed: it would map the internal network for the client.
        return f"refused to connect to {host!r}: it resolves to a {reason} address ({_ALLOW_HINT})"


def _parse_allow_list(entries: typing.Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            names.add(entry.strip().lower().rstrip("."))
    return frozenset(names), tuple(networks)


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address tunnels to (mapped, NAT64, 6to4, Teredo), else ``ip`` itself."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return ip


def blocked_reason(ip: IPAddress) -> str | None:
    """The kind of non-public address ``ip`` is (``"loopback"``, ``"private"``, ...), or None if public."""
    ip = _embedded_ipv4(ip)
    checks = (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (tests replace this to simulate DNS answers)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(host: str, port: int, policy: NetPolicy) -> list[str]:
    """Resolve ``host`` and return its addresses, or raise :class:`UnsafeUrl` if any one is refused.

    All addresses are checked, not just the first: a name answering both a public and a private
    address could otherwise be steered to the private one by the connection's fallback order.
    """
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve host {host!r} ({exc})") from None
    if not addresses:
        raise httpcore.ConnectError(f"host {host!r} has no address")
    for address in addresses:
        refusal = policy.refusal(host, address)
        if refusal is not None:
            raise UnsafeUrl(refusal)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that checks and pins addresses before every TCP connection."""

    def __init__(self, policy: NetPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self._policy)
        error: Exception | None = None
        for address in addresses:  # the checked literals only: no second DNS lookup can swap them
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeUrl("unix sockets are never reachable from a request")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Building a context loads the CA bundle (milliseconds); every client can share one.
    return httpx.create_ssl_context()


def guarded_client(policy: NetPolicy, *, timeout: float | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection goes through :class:`GuardedBackend`.

    Redirects are not followed (callers follow them one hop at a time) and proxy variables from the
    environment are ignored: a proxy would make the connection on our behalf, past the guard.
    """
    transport = httpx.AsyncHTTPTransport(verify=_ssl_context(), trust_env=False)
    # httpx (pinned) has no public hook for the network backend; its transport is a thin wrapper
    # around this pool, so we swap the pool for one built on the guarded backend.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=_ssl_context(), network_backend=GuardedBackend(policy)
    )
    return httpx.AsyncClient(
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout or policy.timeout, connect=policy.connect_timeout),
    )


def http_url(url: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """Parse ``url`` (relative to ``base`` for redirects); only http(s) URLs with a host pass."""
    try:
        parsed = base.join(url) if base is not None else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise InvalidParameter("not a valid URL") from None
    if parsed.scheme not in {"http", "https"}:
        raise UnsafeUrl(f"only http and https URLs are allowed, not {parsed.scheme or 'a bare path'!r}")
    if not parsed.host:
        raise InvalidParameter(f"the URL {display_url(parsed)} has no host")
    return parsed


def display_url(url: str | httpx.URL) -> str:
    """``url`` without credentials or query string (webhook tokens, presigned signatures), for messages."""
    try:
        parsed = httpx.URL(str(url))
    except httpx.InvalidURL:
        return "<invalid URL>"
    shown = f"{parsed.scheme}://{parsed.host}{':' + str(parsed.port) if parsed.port else ''}{parsed.path}"
    return shown if len(shown) <= 120 else shown[:117] + "..."
