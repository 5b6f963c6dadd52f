"""JSON on the wire: Decimal in, Decimal out, dates in ConnectWise's format, nothing lost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

#: A binary double carries 15 significant decimal digits exactly; ConnectWise stores doubles.
MAX_SIGNIFICANT_DIGITS = 15


def loads(text: str | bytes) -> Any:
    """Parse a ConnectWise answer; every JSON number with a fraction becomes a Decimal."""
    return json.loads(text, parse_float=Decimal)


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("datetimes sent to ConnectWise must be timezone-aware")
    utc = value.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{where}: {value} cannot be sent to ConnectWise")
        digits = len(value.normalize().as_tuple().digits)
        if digits > MAX_SIGNIFICANT_DIGITS:
            raise ValueError(
                f"{where}: {value} has {digits} significant digits; ConnectWise keeps {MAX_SIGNIFICANT_DIGITS}, "
                "round it first"
            )
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00Z"
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def dumps(value: Any) -> bytes:
    """A request body. Decimals go out as JSON numbers that read back to the same value."""
    return json.dumps(_plain(value, ""), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
