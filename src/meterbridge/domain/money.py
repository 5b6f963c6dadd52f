"""Money and quantities are Decimal; every rounding step is a named function.

* ``round_quantity``: the quantity sent to ConnectWise, 2 decimals, half up;
* ``round_price``: a unit price or cost, to the tenant's configured decimals, half up;
* ``round_amount``: an extended amount (quantity x price), to cents, half up;
* ``round_usage``: a time-weighted average of usage, to 6 decimals, half up.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

QUANTITY_PLACES = 2
AMOUNT_PLACES = 2
ZERO = Decimal(0)


_EXPONENTS = {places: Decimal(1).scaleb(-places) for places in range(0, 13)}


def _places(places: int) -> Decimal:
    return _EXPONENTS[places]


def round_quantity(quantity: Decimal) -> Decimal:
    return quantity.quantize(_places(QUANTITY_PLACES), rounding=ROUND_HALF_UP)


def round_price(price: Decimal, places: int) -> Decimal:
    if not 0 <= places <= 6:
        raise ValueError("prices keep 0 to 6 decimals")
    return price.quantize(_places(places), rounding=ROUND_HALF_UP)


def round_amount(amount: Decimal) -> Decimal:
    return amount.quantize(_places(AMOUNT_PLACES), rounding=ROUND_HALF_UP)


USAGE_PLACES = 6


def round_usage(quantity: Decimal) -> Decimal:
    return quantity.quantize(_places(USAGE_PLACES), rounding=ROUND_HALF_UP)


def ceil_div(quantity: Decimal, size: Decimal) -> Decimal:
    """Whole blocks of ``size`` needed to hold ``quantity`` (rounded up)."""
    if size <= 0:
        raise ValueError("a block size must be positive")
    return (quantity / size).to_integral_value(rounding=ROUND_CEILING)
