"""Pydantic validation errors as one sentence that names the field and what to do."""

from __future__ import annotations

from pydantic import ValidationError


def describe(error: ValidationError, prefix: str = "") -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "value"
        parts.append(f"{prefix}{where}: {item['msg']}")
    return "; ".join(parts)
