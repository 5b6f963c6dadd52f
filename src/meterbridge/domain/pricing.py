"""Pricing one product's quantity: rounding, included quantity, blocks, tiers, amount and cost.

Order of the steps, each recorded in the explanation:

1. rounding: the quantity is billed with 2 decimals (``round_quantity``), so every later
   number is computed from what ConnectWise receives;
2. included: ``billable = max(0, quantity - included)``;
3. blocks: with a block size, the quantity is sent as whole blocks, rounded up
   (``ceil(billable / size)``), priced per block (``unit price x size``);
4. tiers on the billable units: *graduated* prices each slice of usage at its own tier's
   rate; *volume* prices all of it at the rate of the tier the total falls in. A tier without
   a cost of its own takes the price's unit cost;
5. amount and cost amount: the exact arithmetic of steps 3-4, rounded to cents once
   (``round_amount``). The amount is the invariant: the unit price sent is derived from it
   (``money.unit_price_for``), never the other way round.

A price left unset is 0 and said so (the reference products default to 0 too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.explanation import Step
from meterbridge.domain.money import (
    PRICE_PLACES,
    WIDE,
    ZERO,
    ceil_div,
    decimals,
    round_amount,
    round_quantity,
    unit_price_for,
)


class TierMode(StrEnum):
    GRADUATED = "graduated"
    VOLUME = "volume"


@dataclass(frozen=True)
class Tier:
    """Units up to ``up_to`` (None: no upper bound) cost ``unit_price`` each; ``unit_cost`` None:
    the price's own unit cost."""

    up_to: Decimal | None
    unit_price: Decimal
    unit_cost: Decimal | None = None


@dataclass(frozen=True)
class Price:
    """Cost and price per unit of a product (per customer when overridden)."""

    unit_price: Decimal = ZERO
    unit_cost: Decimal = ZERO
    tiers: tuple[Tier, ...] = ()
    tier_mode: TierMode = TierMode.GRADUATED
    places: int = 2  # the decimals of the price list; a derived unit price may need more
    is_set: bool = True  # False: nobody set a price; 0 is used and flagged

    def __post_init__(self) -> None:
        if not 0 <= self.places <= PRICE_PLACES:
            raise ConfigurationInvalid(f"places: a price keeps 0 to {PRICE_PLACES} decimals, not {self.places}")
        bounds = [t.up_to for t in self.tiers]
        if self.tiers:
            if any(b is None for b in bounds[:-1]):
                raise ConfigurationInvalid("tiers: only the last tier may be open-ended (up_to empty)")
            finite = [b for b in bounds if b is not None]
            if finite != sorted(finite) or len(set(finite)) != len(finite) or any(b <= 0 for b in finite):
                raise ConfigurationInvalid("tiers: up_to must be positive and strictly increasing")
            if bounds[-1] is not None:
                raise ConfigurationInvalid("tiers: the last tier must be open-ended (up_to empty)")

    def tier_cost(self, tier: Tier) -> Decimal:
        return self.unit_cost if tier.unit_cost is None else tier.unit_cost


UNSET_PRICE = Price(is_set=False)


@dataclass(frozen=True)
class Priced:
    """One product priced: what ConnectWise gets for it and what it comes to."""

    quantity: Decimal  # what ConnectWise gets: units (2 decimals), or blocks when a block size is set
    amount: Decimal  # cents: the arithmetic of the price list
    cost_amount: Decimal
    rate: Decimal  # the list price per unit sent (flat price x block size); for tiers, the first tier's
    cost_rate: Decimal
    places: int
    flat: bool  # one rate for every unit (no tiers): the rate reproduces the amount
    unit_price: Decimal  # what bills exactly ``amount`` for ``quantity`` (the rate when there is no usage)
    unit_cost: Decimal
    steps: tuple[Step, ...] = field(default_factory=tuple)


def _unit(amount: Decimal, quantity: Decimal, places: int, rate: Decimal, flat: bool) -> Decimal:
    if quantity == 0:
        return rate
    if flat and round_amount(quantity * rate) == amount:
        return rate
    return unit_price_for(amount, quantity, places)


def _tier_amounts(units: Decimal, price: Price) -> tuple[Decimal, Decimal, str]:
    """The exact amount and cost of ``units`` over the tiers (in 60 digits), and how they came."""
    wide = WIDE
    if price.tier_mode is TierMode.VOLUME:
        below = ZERO
        for tier in price.tiers:
            if tier.up_to is None or units <= tier.up_to:
                which = f"up to {tier.up_to}" if tier.up_to is not None else f"over {below}"
                return (
                    wide.multiply(units, tier.unit_price),
                    wide.multiply(units, price.tier_cost(tier)),
                    f"volume: all {units} at the rate of the tier {which}: {units} x {tier.unit_price}",
                )
            below = tier.up_to
        raise AssertionError("the last tier is open-ended")
    amount = cost = ZERO
    lower = ZERO
    parts = []
    for tier in price.tiers:
        upper = units if tier.up_to is None else min(units, tier.up_to)
        portion = max(ZERO, wide.subtract(upper, lower))
        if portion > 0:
            amount = wide.add(amount, wide.multiply(portion, tier.unit_price))
            cost = wide.add(cost, wide.multiply(portion, price.tier_cost(tier)))
            parts.append(f"{wide.normalize(portion):f} x {tier.unit_price}")
        if tier.up_to is None or units <= tier.up_to:
            break
        lower = tier.up_to
    return amount, cost, "graduated: " + (" + ".join(parts) or "nothing")


def round_usage_quantity(quantity: Decimal, unit_label: str = "") -> tuple[Decimal, tuple[Step, ...]]:
    """The quantity billed (2 decimals, half up), with the step that says so when it changed anything."""
    rounded = round_quantity(quantity)
    if rounded == quantity:
        return quantity, ()  # as given: 1500 stays 1500, not 1500.00
    unit = f" {unit_label}" if unit_label else ""
    return rounded, (Step("rounding", f"{quantity}{unit} billed as {rounded} (2 decimals, half up)", rounded),)


def price_quantity(
    quantity: Decimal,
    price: Price,
    *,
    included: Decimal = ZERO,
    block_size: Decimal | None = None,
    unit_label: str = "",
) -> Priced:
    units, rounding = round_usage_quantity(quantity, unit_label)
    steps: list[Step] = list(rounding)
    if included:
        billable = max(ZERO, units - included)
        steps.append(Step("included", f"{units} - {included} included = {billable}", billable))
        units = billable
    sent = units
    per = Decimal(1)
    if block_size is not None:
        sent = ceil_div(units, block_size)
        per = block_size
        unit = f" {unit_label}" if unit_label else ""
        size = f"{block_size.normalize():f}{unit}"
        steps.append(Step("blocks", f"{units}{unit} in blocks of {size}: {sent} block(s) of {size}", sent))
        units = sent * block_size
    if not price.is_set:
        steps.append(Step("price", "no price set for this product: 0 is used", ZERO, warning=True))
    wide = WIDE  # 60 digits, passed to each operation: no context to enter and leave per product
    if price.tiers:
        exact, exact_cost, detail = _tier_amounts(units, price)
        amount, cost_amount = round_amount(exact, wide), round_amount(exact_cost, wide)
        steps.append(Step("tier", f"{detail} = {amount}", amount))
        first = price.tiers[0]
        rate, cost_rate = wide.multiply(first.unit_price, per), wide.multiply(price.tier_cost(first), per)
    else:
        rate, cost_rate = wide.multiply(price.unit_price, per), wide.multiply(price.unit_cost, per)
        amount = round_amount(wide.multiply(sent, rate), wide)
        cost_amount = round_amount(wide.multiply(sent, cost_rate), wide)
        if block_size is not None:
            size = f"{wide.normalize(block_size):f}"
            steps.append(
                Step(
                    "blocks",
                    f"a block of {size} costs {size} x {price.unit_price} = {wide.normalize(rate):f} "
                    f"(cost {size} x {price.unit_cost} = {wide.normalize(cost_rate):f})",
                    rate,
                )
            )
    flat = not price.tiers
    unit_price = _unit(amount, sent, price.places, rate, flat)
    unit_cost = _unit(cost_amount, sent, price.places, cost_rate, flat)
    steps.append(
        Step("price", f"{sent} x {unit_price} = {amount} (cost {sent} x {unit_cost} = {cost_amount})", unit_price)
    )
    return Priced(sent, amount, cost_amount, rate, cost_rate, price.places, flat, unit_price, unit_cost, tuple(steps))


@dataclass(frozen=True)
class Range:
    """Billable usage above the lower ranges, up to ``up_to``, goes to ``cw_product``. Its unit
    price and cost: its own, or (None) the product's price list's flat price and cost."""

    up_to: Decimal | None
    cw_product: str
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None

    def price(self, listed: Price) -> Price | None:
        """This range's price against the product's price list; None: the price list as it is."""
        if self.unit_price is None and self.unit_cost is None:
            return None
        unit_price = listed.unit_price if self.unit_price is None else self.unit_price
        unit_cost = listed.unit_cost if self.unit_cost is None else self.unit_cost
        places = max(listed.places, decimals(unit_price), decimals(unit_cost))
        return Price(unit_price, unit_cost, places=min(places, PRICE_PLACES))


def check_ranges(ranges: Sequence[Range]) -> None:
    if not ranges:
        raise ConfigurationInvalid("ranges: at least one range is needed")
    bounds = [r.up_to for r in ranges]
    if any(b is None for b in bounds[:-1]) or bounds[-1] is not None:
        raise ConfigurationInvalid("ranges: only the last range is open-ended (up_to empty), and it must be")
    finite = [b for b in bounds if b is not None]
    if finite != sorted(finite) or len(set(finite)) != len(finite) or any(b <= 0 for b in finite):
        raise ConfigurationInvalid("ranges: up_to must be positive and strictly increasing")


def split_ranges(quantity: Decimal, ranges: Sequence[Range]) -> list[tuple[Range, Decimal]]:
    """Each range's share of ``quantity`` (0-1000 GB to one product, the rest to another); every
    range is listed, with 0 when the usage does not reach it, so its line can go to 0."""
    check_ranges(ranges)
    shares = []
    lower = ZERO
    for current in ranges:
        upper = quantity if current.up_to is None else min(quantity, current.up_to)
        shares.append((current, max(ZERO, upper - lower)))
        if current.up_to is not None:
            lower = current.up_to
    return shares
