"""Numbers and tiers as people write them: decimals checked by field, tiers as ``up_to:price[:cost]``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from meterbridge.services.errors import InvalidInput
from meterbridge.services.views import TierView

_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)
_EXPONENT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?", re.ASCII)


def decimal_of(field: str, text: str | Decimal, *, exponent: bool = False) -> Decimal:
    """A number as people write it: digits with a decimal point (``exponent``: an exponent may
    follow, as exports of byte counts write them: 1.5E9); no digit groups, no other scripts' digits."""
    if isinstance(text, Decimal):
        value = text
    else:
        written = str(text).strip()
        if not (_EXPONENT if exponent else _PLAIN).fullmatch(written):
            raise InvalidInput(
                f"{field}: {text!r} is not a number (digits with a decimal point, e.g. 0.12; no thousands separators)",
                field=field,
            )
        try:
            value = Decimal(written)
        except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
            raise InvalidInput(f"{field}: {text!r} is not a number", field=field) from None
    if not value.is_finite():
        raise InvalidInput(f"{field}: {text!r} is not a finite number", field=field)
    if abs(value) > LARGEST:
        raise InvalidInput(f"{field}: {text!r} is larger than anything meterbridge bills (at most 10^15)", field=field)
    return value


LARGEST = Decimal("1e15")


def parse_tiers(text: str) -> list[dict[str, str | None]]:
    """``"1000:0.10,5000:0.08,:0.05"``: up to 1000 units at 0.10, to 5000 at 0.08, the rest at 0.05.
    A cost may follow: ``1000:0.10:0.04``; a tier without one takes the price's unit cost."""
    tiers: list[dict[str, str | None]] = []
    for position, part in enumerate(filter(None, (p.strip() for p in text.split(","))), start=1):
        pieces = part.split(":")
        if len(pieces) not in (2, 3):
            raise InvalidInput(
                f"tiers: tier {position} ({part!r}) must be up_to:price or up_to:price:cost", field="tiers"
            )
        up_to = str(decimal_of(f"tiers[{position}].up_to", pieces[0])) if pieces[0] else None
        cost = str(decimal_of(f"tiers[{position}].unit_cost", pieces[2])) if len(pieces) == 3 and pieces[2] else None
        tiers.append(
            {
                "up_to": up_to,
                "unit_price": str(decimal_of(f"tiers[{position}].unit_price", pieces[1])),
                "unit_cost": cost,
            }
        )
    return tiers


def format_tiers(tiers: list[TierView]) -> str:
    """Tiers as ``parse_tiers`` reads them."""
    parts = []
    for tier in tiers:
        pieces = [format(tier.up_to, "f") if tier.up_to is not None else "", format(tier.unit_price, "f")]
        if tier.unit_cost is not None:
            pieces.append(format(tier.unit_cost, "f"))
        parts.append(":".join(pieces))
    return ",".join(parts)


def tier_views(stored: list[dict[str, Any]] | None) -> list[TierView]:
    return [
        TierView(
            up_to=Decimal(str(t["up_to"])) if t.get("up_to") is not None else None,
            unit_price=Decimal(str(t["unit_price"])),
            unit_cost=Decimal(str(t["unit_cost"])) if t.get("unit_cost") is not None else None,
        )
        for t in stored or []
    ]
