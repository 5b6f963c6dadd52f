"""The client's address, for the sign-in limits: the peer's, unless the peer is a trusted proxy.

Only when the direct peer is in ``MBRIDGE_TRUSTED_PROXIES`` are forwarded headers read:
``X-Forwarded-For`` when present (every such header, in order), else ``Forwarded`` (RFC 7239,
its ``for=`` parameters). The client is the right-most address in that list that is not itself
a trusted proxy: the entries to its left are whatever the client sent, and are never believed.
An entry that is not an address (``unknown``, an obfuscated name, garbage) stops the walk: the
last trusted hop before it is counted instead. If every entry is a trusted proxy, the left-most
is the client. With no trusted proxy set (the default), the headers are ignored.

A proxy in front of meterbridge must append to (or overwrite) the header it uses; one that sets
only ``Forwarded`` must also drop any ``X-Forwarded-For`` a client sends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    """An address from a header entry: ``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]:80``, ``2001:db8::1``."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: Address | None, proxies: Sequence[Network]) -> bool:
    return ip is not None and any(ip.version == net.version and ip in net for net in proxies)


def _forwarded_for(request: Request) -> list[str]:
    """The hops the forwarding headers name, left (the first client) to right (the last proxy)."""
    xff = request.headers.getlist("x-forwarded-for")
    if xff:
        return [item for header in xff for item in header.split(",")]
    hops = []
    for header in request.headers.getlist("forwarded"):
        for element in header.split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.strip().lower() == "for":
                    hops.append(value)
    return hops


def client_address(request: Request, proxies: Sequence[Network]) -> str:
    """The address a sign-in is counted against (the peer's name when it is no address, e.g. a test client)."""
    peer = request.client.host if request.client else "?"
    peer_ip = _address(peer)
    if not proxies or not _trusted(peer_ip, proxies):
        return str(peer_ip) if peer_ip is not None else peer
    assert peer_ip is not None
    client: Address = peer_ip
    for hop in reversed(_forwarded_for(request)):
        ip = _address(hop)
        if ip is None:
            break
        client = ip
        if not _trusted(ip, proxies):
            break
    return str(client)
