"""One guard for every request meterbridge sends out: ConnectWise, usage sources, webhooks.

Whoever can set an address (a tenant's admin: a pull source, a webhook, the ConnectWise site)
must not make meterbridge call what only the server can reach: itself, the database, a cloud's
metadata service, the private network. So before a connection is made the host is resolved and
**every** address it resolves to is checked, at connect time (DNS can change after an address was
saved), for each request (a redirect, if one is ever followed, is a request of its own):

* refused: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
  fe80::/10: the metadata services), shared CGNAT (100.64/10, Alibaba's 100.100.100.200),
  unspecified, reserved, multicast, and an IPv6 address that maps one of them; in short, any
  address that is not globally routable. The integer and short IPv4 forms (``2130706433``,
  ``127.1``, ``0x7f.0.0.1``) resolve to what they mean and are judged as that;
* allowed: what the operator allow-lists (``MBRIDGE_OUTBOUND_ALLOW``, networks or addresses
  separated by commas, e.g. ``127.0.0.0/8,::1`` for cwsim and vendorsim on loopback during
  development); off by default, and named in every refusal.

The connection is then made to the address that was checked, not to a name resolved again: the
request's URL is pinned to it, its ``Host`` header and TLS server name (SNI, and the certificate's
check) stay the name's. A DNS server that answers a public address to the check and a private one
a moment later (rebinding) has nothing to rebind.

A transport given by a test (cwsim through an in-process ASGI transport) opens no connection and
is not wrapped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2

SETTING = "MBRIDGE_OUTBOUND_ALLOW"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port -> the addresses it resolves to (the system's resolver unless a test gives one)
Resolver = Callable[[str, int], Sequence[str]]

#: headers a usage source's auth header may not be (hop-by-hop, framing, or what a metadata
#: service or a proxy trusts)
FORBIDDEN_HEADERS = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
        "trailer", "transfer-encoding", "upgrade", "host", "content-length", "content-type", "cookie", "expect",
        "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "metadata",
        "metadata-flavor", "x-google-metadata-request", "x-aws-ec2-metadata-token",
        "x-aws-ec2-metadata-token-ttl-seconds", "x-identity-header",
    }
)  # fmt: skip


class AddressRefused(httpx2.InvalidURL):
    """The host resolves to an address meterbridge does not call: nothing was sent."""


def header_refusal(name: str) -> str | None:
    """Why a usage source may not send header ``name`` (None: it may)."""
    if name.casefold() in FORBIDDEN_HEADERS:
        return (
            f"{name} is a header meterbridge sets itself or that a proxy or metadata service trusts; use the "
            "header the vendor's API authenticates with (e.g. Authorization, X-API-Key)"
        )
    return None


def _kind(address: Address) -> str:
    for test, name in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local (cloud metadata)"),
        ("is_unspecified", "an unspecified"),
        ("is_multicast", "a multicast"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    ):
        if getattr(address, test):
            return name
    return "a non-public (e.g. shared CGNAT)"


@dataclass(frozen=True)
class OutboundGuard:
    """The rule every outbound request meets; ``allowed`` the operator's allow-list."""

    allowed: tuple[Network, ...] = ()
    resolver: Resolver | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str | None) -> OutboundGuard:
        """``127.0.0.0/8,::1`` -> the guard allowing them; ValueError naming a bad item."""
        networks: list[Network] = []
        for item in (text or "").split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    f"{SETTING}: {item!r} is not an address or network (e.g. 127.0.0.0/8 or ::1)"
                ) from None
        return cls(tuple(networks))

    def refusal(self, host: str, address: Address) -> str | None:
        """Why ``address`` (what ``host`` resolved to) may not be called; None: it may."""
        judged = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
        if any(judged in network or address in network for network in self.allowed):
            return None
        if judged.is_global and not judged.is_multicast:
            return None
        shown = host if host == str(address) else f"{host} ({address})"
        return (
            f"{shown} is {_kind(judged)} address; meterbridge calls public addresses only (an operator can "
            f"allow one for development with {SETTING}, e.g. {SETTING}=127.0.0.0/8)"
        )

    def check(self, host: str, addresses: Iterable[str]) -> list[str]:
        """AddressRefused when any address ``host`` resolved to is refused (all must pass: any of
        them could be the one connected to); the addresses otherwise."""
        passed = []
        for text in addresses:
            refused = self.refusal(host, ipaddress.ip_address(text.partition("%")[0]))
            if refused is not None:
                raise AddressRefused(refused)
            passed.append(text)
        return passed

    def check_url(self, url: httpx2.URL) -> list[str]:
        """Resolve the URL's host now (blocking) and check every address; the addresses."""
        host, port = url.host, _port(url)
        if self.resolver is not None:
            return self.check(host, _listed(host, self.resolver(host, port)))
        return self.check(host, _resolved(host, socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)))

    async def check_url_async(self, url: httpx2.URL) -> list[str]:
        host, port = url.host, _port(url)
        if self.resolver is not None:
            return self.check(host, _listed(host, self.resolver(host, port)))
        found = await asyncio.get_running_loop().getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        return self.check(host, _resolved(host, found))


def _port(url: httpx2.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _listed(host: str, addresses: Sequence[str]) -> list[str]:
    if not addresses:
        raise AddressRefused(f"{host} resolves to no address")
    return list(addresses)


def pinned(request: httpx2.Request, addresses: Sequence[str]) -> httpx2.Request:
    """``request`` sent to the checked address itself (IPv4 first, as most servers listen on it),
    its Host header and TLS server name kept the name's: the connection cannot go elsewhere."""
    host = request.url.host
    try:
        ipaddress.ip_address(host)
        return request  # an address already: nothing is resolved again
    except ValueError:
        pass
    chosen = next((a for a in addresses if ":" not in a), addresses[0]).partition("%")[0]
    request.url = request.url.copy_with(host=chosen)
    request.extensions = {**request.extensions, "sni_hostname": host}
    return request


def _resolved(host: str, found: Sequence[tuple[Any, ...]]) -> list[str]:
    if not found:
        raise AddressRefused(f"{host} resolves to no address")
    return [str(entry[4][0]) for entry in found]


def _unresolvable(host: str, error: OSError) -> httpx2.ConnectError:
    return httpx2.ConnectError(f"{host}: the name does not resolve ({error})")


class GuardedTransport(httpx2.BaseTransport):
    """A transport whose every request is checked by ``guard`` before it connects."""

    def __init__(self, inner: httpx2.BaseTransport, guard: OutboundGuard) -> None:
        self.inner, self.guard = inner, guard

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            addresses = self.guard.check_url(request.url)
        except OSError as error:
            raise _unresolvable(request.url.host, error) from None
        original = request.url
        try:
            return self.inner.handle_request(pinned(request, addresses))
        finally:
            request.url = original  # the connection is made: messages and links name the host again

    def close(self) -> None:
        self.inner.close()


class GuardedAsyncTransport(httpx2.AsyncBaseTransport):
    """The asynchronous one."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, guard: OutboundGuard) -> None:
        self.inner, self.guard = inner, guard

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            addresses = await self.guard.check_url_async(request.url)
        except OSError as error:
            raise _unresolvable(request.url.host, error) from None
        original = request.url
        try:
            return await self.inner.handle_async_request(pinned(request, addresses))
        finally:
            request.url = original  # the connection is made: messages and links name the host again

    async def aclose(self) -> None:
        await self.inner.aclose()
