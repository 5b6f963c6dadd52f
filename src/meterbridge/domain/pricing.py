"""Pricing one product's quantity: included quantity, blocks, tiers, price and cost.

Order of the steps, each recorded in the explanation:

1. included: ``billable = max(0, quantity - included)``;
2. blocks: with a block size, the quantity is sent as whole blocks, rounded up
   (``ceil(billable / size)``), priced per block (``unit price x size``);
3. tiers on the billable units: *graduated* prices each slice of usage at its own tier's
   rate; *volume* prices all of it at the rate of the tier the total falls in;
4. unit price and cost, rounded to the configured decimals; the amount is
   ``round_amount(quantity x unit price)``.

A price left unset is 0 and said so (the reference products default to 0 too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from enum import StrEnum

from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.explanation import Step
from meterbridge.domain.money import ZERO, ceil_div, round_amount, round_price


class TierMode(StrEnum):
    GRADUATED = "graduated"
    VOLUME = "volume"


@dataclass(frozen=True)
class Tier:
    """Units up to ``up_to`` (None: no upper bound) cost ``unit_price`` each."""

    up_to: Decimal | None
    unit_price: Decimal
    unit_cost: Decimal = ZERO


@dataclass(frozen=True)
class Price:
    """Cost and price per unit of a product (per customer when overridden)."""

    unit_price: Decimal = ZERO
    unit_cost: Decimal = ZERO
    tiers: tuple[Tier, ...] = ()
    tier_mode: TierMode = TierMode.GRADUATED
    places: int = 2
    is_set: bool = True  # False: nobody set a price; 0 is used and flagged

    def __post_init__(self) -> None:
        bounds = [t.up_to for t in self.tiers]
        if self.tiers:
            if any(b is None for b in bounds[:-1]):
                raise ConfigurationInvalid("tiers: only the last tier may be open-ended (up_to empty)")
            finite = [b for b in bounds if b is not None]
            if finite != sorted(finite) or len(set(finite)) != len(finite) or any(b <= 0 for b in finite):
                raise ConfigurationInvalid("tiers: up_to must be positive and strictly increasing")
            if bounds[-1] is not None:
                raise ConfigurationInvalid("tiers: the last tier must be open-ended (up_to empty)")


UNSET_PRICE = Price(is_set=False)


@dataclass(frozen=True)
class Priced:
    quantity: Decimal  # what ConnectWise gets: units, or blocks when a block size is set
    unit_price: Decimal
    unit_cost: Decimal
    amount: Decimal
    cost_amount: Decimal
    steps: tuple[Step, ...] = field(default_factory=tuple)


def _tier_amounts(units: Decimal, price: Price) -> tuple[Decimal, Decimal, str]:
    if price.tier_mode is TierMode.VOLUME:
        for tier in price.tiers:
            if tier.up_to is None or units <= tier.up_to:
                return (
                    units * tier.unit_price,
                    units * tier.unit_cost,
                    (f"volume: all {units} at the tier up to {tier.up_to or 'any'}: {tier.unit_price}"),
                )
        raise AssertionError("the last tier is open-ended")
    amount = cost = ZERO
    lower = ZERO
    parts = []
    for tier in price.tiers:
        upper = units if tier.up_to is None else min(units, tier.up_to)
        portion = max(ZERO, upper - lower)
        if portion > 0:
            amount += portion * tier.unit_price
            cost += portion * tier.unit_cost
            parts.append(f"{portion} x {tier.unit_price}")
        if tier.up_to is None or units <= tier.up_to:
            break
        lower = tier.up_to
    return amount, cost, "graduated: " + (" + ".join(parts) or "nothing")


def price_quantity(
    quantity: Decimal,
    price: Price,
    *,
    included: Decimal = ZERO,
    block_size: Decimal | None = None,
    unit_label: str = "",
) -> Priced:
    steps: list[Step] = []
    units = quantity
    if included:
        units = max(ZERO, quantity - included)
        steps.append(Step("included", f"{quantity} - {included} included = {units}", units))
    sent = units
    if block_size is not None:
        sent = ceil_div(units, block_size)
        units = sent * block_size
        steps.append(Step("blocks", f"{sent} block(s) of {block_size} {unit_label}".rstrip(), sent))
    if not price.is_set:
        steps.append(Step("price", "no price set for this product: 0 is used", ZERO, warning=True))
    with localcontext() as context:
        context.prec = 50
        if price.tiers:
            amount, cost, detail = _tier_amounts(units, price)
            steps.append(Step("tier", detail, amount))
            unit_price = amount / sent if sent else price.tiers[0].unit_price * (block_size or 1)
            unit_cost = cost / sent if sent else price.tiers[0].unit_cost * (block_size or 1)
        else:
            per = block_size or Decimal(1)
            unit_price, unit_cost = price.unit_price * per, price.unit_cost * per
    unit_price = round_price(unit_price, price.places)
    unit_cost = round_price(unit_cost, price.places)
    amount_total = round_amount(sent * unit_price)
    cost_total = round_amount(sent * unit_cost)
    steps.append(
        Step("price", f"{sent} x {unit_price} = {amount_total} (cost {sent} x {unit_cost} = {cost_total})", unit_price)
    )
    return Priced(sent, unit_price, unit_cost, amount_total, cost_total, tuple(steps))


@dataclass(frozen=True)
class Range:
    """Usage from ``start`` (exclusive of what lower ranges took) up to ``up_to`` goes to ``product``."""

    up_to: Decimal | None
    cw_product: str
    price: Price


def split_ranges(quantity: Decimal, ranges: Sequence[Range]) -> list[tuple[Range, Decimal]]:
    """Each range's share of ``quantity``: 0-1000 GB to one product, the rest to another."""
    if not ranges:
        raise ConfigurationInvalid("ranges: at least one range is needed")
    bounds = [r.up_to for r in ranges]
    if any(b is None for b in bounds[:-1]) or bounds[-1] is not None:
        raise ConfigurationInvalid("ranges: only the last range is open-ended, and it must be")
    shares = []
    lower = ZERO
    for current in ranges:
        upper = quantity if current.up_to is None else min(quantity, current.up_to)
        share = max(ZERO, upper - lower)
        if share > 0:
            shares.append((current, share))
        if current.up_to is None or quantity <= current.up_to:
            break
        lower = current.up_to
    return shares
