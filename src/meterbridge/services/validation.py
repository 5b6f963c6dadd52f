"""Pydantic validation errors as one sentence that names the field and what to do."""

from __future__ import annotations

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
