"""Units of usage and exact conversions between them (GB = 10^9 bytes, GiB = 2^30)."""

from __future__ import annotations

from decimal import Decimal, localcontext
from enum import StrEnum

from meterbridge.domain.errors import UnitError


class Unit(StrEnum):
    BYTE = "B"
    MB = "MB"
    GB = "GB"
    TB = "TB"
    MIB = "MiB"
    GIB = "GiB"
    TIB = "TiB"
    COUNT = "count"

    @classmethod
    def parse(cls, text: str) -> Unit:
        for unit in cls:
            if unit.value.lower() == text.strip().lower():
                return unit
        raise UnitError(f"unknown unit {text!r}; use one of {', '.join(u.value for u in cls)}")


_BYTES = {
    Unit.BYTE: Decimal(1),
    Unit.MB: Decimal(10) ** 6,
    Unit.GB: Decimal(10) ** 9,
    Unit.TB: Decimal(10) ** 12,
    Unit.MIB: Decimal(2) ** 20,
    Unit.GIB: Decimal(2) ** 30,
    Unit.TIB: Decimal(2) ** 40,
}


def convert(quantity: Decimal, source: Unit, target: Unit) -> Decimal:
    """``quantity`` of ``source`` in ``target``; exact (every ratio here is a finite decimal)."""
    if source == target:
        return quantity
    if Unit.COUNT in (source, target):
        raise UnitError(f"cannot convert {source.value} to {target.value}: a count is not a size")
    with localcontext() as context:
        context.prec = 200  # 2^40 ratios need ~55 digits; a round trip ~70: plenty, so exact
        result = quantity * _BYTES[source] / _BYTES[target]
        # normalize() rounds to the context's precision: keep it inside this one.
        return result.normalize() if result != result.to_integral_value() else result.quantize(Decimal(1))
