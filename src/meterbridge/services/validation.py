"""Pydantic validation errors as one sentence that names the field and what to do."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import ValidationError

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


def check_url(url: str, field: str = "url") -> str:
    """An http(s) address meterbridge may call: a host, no credentials in it, not a link-local or
    reserved address (a cloud's metadata service lives there)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{field}: {url!r} is not an http:// or https:// address with a host", field=field)
    if parts.username or parts.password:
        raise InvalidInput(f"{field}: put no user or password in the address; the body is signed instead", field=field)
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url.strip()
    if address.is_link_local or address.is_unspecified or address.is_multicast or address.is_reserved:
        raise InvalidInput(f"{field}: {address} is a link-local, unspecified or reserved address", field=field)
    return url.strip()
