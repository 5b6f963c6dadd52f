"""Pydantic validation errors as one sentence that names the field and what to do."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

from pydantic import ValidationError

from meterbridge.outbound import AddressRefused, OutboundGuard
from meterbridge.services.errors import InvalidInput


def describe(error: ValidationError, prefix: str = "") -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "value"
        parts.append(f"{prefix}{where}: {item['msg']}")
    return "; ".join(parts)


def invalid(error: ValidationError, prefix: str = "") -> InvalidInput:
    """An InvalidInput naming the first field that failed (and every failure in its message)."""
    first = error.errors()[0]["loc"] if error.errors() else ()
    field = ".".join(str(part) for part in first) or None
    return InvalidInput(describe(error, prefix), field=field)


_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_name(name: str, field: str = "name") -> str:
    """A name people give a thing (a schedule, a webhook): lowercase letters, digits, . _ -."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{field}: {name!r} is not a name: 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (e.g. monthly-push)",
            field=field,
        )
    return name


def check_url(url: str, field: str = "url", guard: OutboundGuard | None = None) -> str:
    """An http(s) address meterbridge may call: a host, no credentials in it, and, when the host
    resolves now, no address the outbound guard refuses (meterbridge/outbound.py: loopback,
    private, link-local, metadata, CGNAT, in any of their written forms). A name that does not
    resolve yet is accepted: every request is checked again when it connects."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{field}: {url!r} is not an http:// or https:// address with a host", field=field)
    if parts.username or parts.password:
        raise InvalidInput(f"{field}: put no user or password in the address; the body is signed instead", field=field)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(f"{field}: {url!r} has no valid port", field=field) from None
    try:
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return url.strip()  # checked when it connects
    try:
        (guard or OutboundGuard()).check(parts.hostname, [str(entry[4][0]) for entry in found])
    except AddressRefused as refused:
        raise InvalidInput(f"{field}: {refused}", field=field) from None
    return url.strip()
