"""Money and quantities are Decimal; every rounding step is a named function, used everywhere.

* ``round_quantity``: a quantity billed and sent to ConnectWise, 2 decimals, half up;
* ``round_price``: a unit price or cost, to a number of decimals, half up;
* ``round_amount``: an extended amount (quantity x price), to cents, half up (ConnectWise's
  extended price, as cwsim models it);
* ``round_usage``: a time-weighted average of usage, to 6 decimals, half up;
* ``unit_price_for``: the unit price that makes ``quantity x unit price`` bill exactly an amount.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal

from meterbridge.domain.errors import DomainError

QUANTITY_PLACES = 2
AMOUNT_PLACES = 2
PRICE_PLACES = 8  # the most decimals a price set by a person may carry (per product, --places)
DERIVED_PLACES = 12  # the most decimals meterbridge gives a unit price it derives from an amount
#: A derived unit price with more decimals than the price list's must land this close to the amount,
#: so that the double ConnectWise stores cannot round quantity x price to another cent.
DERIVED_TOLERANCE = Decimal("0.001")
ZERO = Decimal(0)
CENT = Decimal("0.01")


_EXPONENTS = {places: Decimal(1).scaleb(-places) for places in range(0, DERIVED_PLACES + 1)}


#: The precision exact amounts and derived unit prices are worked out in (``pricing``,
#: ``unit_price_for``), given to each operation rather than entered as a context.
WIDE = Context(prec=60)


def _places(places: int) -> Decimal:
    return _EXPONENTS[places]


def round_quantity(quantity: Decimal) -> Decimal:
    return quantity.quantize(_places(QUANTITY_PLACES), rounding=ROUND_HALF_UP)


def round_price(price: Decimal, places: int, context: Context | None = None) -> Decimal:
    if not 0 <= places <= DERIVED_PLACES:
        raise ValueError(f"prices keep 0 to {DERIVED_PLACES} decimals")
    return price.quantize(_places(places), ROUND_HALF_UP, context)


def round_amount(amount: Decimal, context: Context | None = None) -> Decimal:
    return amount.quantize(_places(AMOUNT_PLACES), ROUND_HALF_UP, context)


USAGE_PLACES = 6


def round_usage(quantity: Decimal) -> Decimal:
    return quantity.quantize(_places(USAGE_PLACES), rounding=ROUND_HALF_UP)


def ceil_div(quantity: Decimal, size: Decimal) -> Decimal:
    """Whole blocks of ``size`` needed to hold ``quantity`` (rounded up)."""
    if size <= 0:
        raise ValueError("a block size must be positive")
    return (quantity / size).to_integral_value(rounding=ROUND_CEILING)


def format_money(amount: Decimal, symbol: str = "$") -> str:
    """An amount as people read money: ``$1,234.50``, ``-$3.00``, ``EUR 480.00`` (cents, half up)."""
    rounded = round_amount(amount)
    sign = "-" if rounded < 0 else ""
    return f"{sign}{_symbol(symbol)}{abs(rounded):,.2f}"


def format_unit_price(price: Decimal, symbol: str = "$") -> str:
    """A unit price as money, with every decimal it carries and at least cents: ``$45.00``, ``$0.093333``."""
    sign = "-" if price < 0 else ""
    shown = abs(price).quantize(_places(max(AMOUNT_PLACES, decimals(price))))
    return f"{sign}{_symbol(symbol)}{shown:,f}"


def _symbol(symbol: str) -> str:
    """``$`` sits against the amount; a code (EUR, CHF) is set apart by a space."""
    return symbol if len(symbol) == 1 else f"{symbol} "


def decimals(value: Decimal) -> int:
    """How many decimals ``value`` carries once trailing zeros are dropped (0.120 -> 2)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def unit_price_for(amount: Decimal, quantity: Decimal, places: int) -> Decimal:
    """The unit price to send with ``quantity`` so ConnectWise bills exactly ``amount``.

    ``amount`` is in cents and ``quantity`` is positive. The price list's decimals (``places``)
    are used when ``round_amount(quantity x price)`` gives the amount; otherwise more decimals,
    as few as needed, until ``quantity x price`` is within a tenth of a cent of the amount.
    1,500 GB for 140.00 is 0.093333 (1,500 x 0.093333 = 139.9995), never 0.09 (135.00).
    """
    if quantity <= 0:
        raise ValueError("a unit price is derived for a positive quantity")
    wide = WIDE  # 60 digits, passed to each operation: no context to enter and leave per line
    exact = wide.divide(amount, quantity)
    candidate = round_price(exact, places, wide)
    if round_amount(wide.multiply(quantity, candidate), wide) == amount:
        return candidate
    for more in range(places + 1, DERIVED_PLACES + 1):
        candidate = round_price(exact, more, wide)
        if wide.subtract(wide.multiply(quantity, candidate), amount).copy_abs() <= DERIVED_TOLERANCE:
            return candidate
    raise DomainError(
        f"no unit price of up to {DERIVED_PLACES} decimals bills {amount} for {quantity} units: bill this line as "
        "a total (data mode total) or in blocks"
    )
