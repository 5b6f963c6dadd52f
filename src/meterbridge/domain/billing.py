"""Billing configurations and the desired lines they produce for a period.

A configuration (several per customer are allowed) names products, the ConnectWise product (or
GB ranges, each to its own product), the agreement (a rule or a pin), and how to bill:

* bill mode: ``Billable``; ``NoCharge`` sends the line at price 0 (it shows on the invoice, free);
  ``DoNotBill`` sends nothing;
* data mode: ``average`` (quantity = all units, unit price = the weighted average, i.e. total
  amount / total quantity), ``total`` (quantity 1, unit price = the total), ``quantity`` (the
  quantity only, no prices: ConnectWise's product prices apply). Storage and licenses in one
  configuration allow ``total`` only;
* block size and included quantity (per product price rules), zero policy, addition strategy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from enum import StrEnum

from meterbridge.domain.description import DescriptionTemplate
from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.explanation import Explanation, Step
from meterbridge.domain.money import ZERO, round_amount, round_price, round_quantity
from meterbridge.domain.periods import Period
from meterbridge.domain.pricing import UNSET_PRICE, Price, Priced, Range, price_quantity, split_ranges
from meterbridge.domain.units import Unit
from meterbridge.domain.usage import Basis


class ProductKind(StrEnum):
    LICENSE = "license"
    STORAGE = "storage"
    DEVICE = "device"
    TRAFFIC = "traffic"


class BillMode(StrEnum):
    BILLABLE = "Billable"
    DO_NOT_BILL = "DoNotBill"
    NO_CHARGE = "NoCharge"


class DataMode(StrEnum):
    AVERAGE = "average"
    TOTAL = "total"
    QUANTITY_ONLY = "quantity"


class ZeroPolicy(StrEnum):
    """When usage drops to nothing: send quantity 0, cancel the addition, or leave it as it is."""

    ZERO = "zero"
    CANCEL = "cancel"
    LEAVE = "leave"


class Strategy(StrEnum):
    """One addition per agreement and product kept up to date, or one addition per period."""

    RUNNING = "running"
    PER_PERIOD = "per_period"


@dataclass(frozen=True)
class Product:
    key: str
    name: str
    kind: ProductKind
    unit: Unit
    basis: Basis = Basis.LAST
    cw_product: str | None = None  # the mapped ConnectWise catalog identifier


@dataclass(frozen=True)
class BillingConfiguration:
    key: str
    customer: str
    products: tuple[str, ...]
    cw_product: str | None = None  # None: the products' own mapping (one product) or ranges
    ranges: tuple[Range, ...] = ()
    bill_mode: BillMode = BillMode.BILLABLE
    data_mode: DataMode = DataMode.AVERAGE
    block_size: Decimal | None = None
    included: Decimal = ZERO
    zero_policy: ZeroPolicy = ZeroPolicy.ZERO
    strategy: Strategy = Strategy.RUNNING
    description: DescriptionTemplate | None = None  # None: ConnectWise's product description
    agreement_rule: str | None = None
    agreement_pin: int | None = None
    enabled: bool = True


def validate_configuration(config: BillingConfiguration, products: Mapping[str, Product]) -> None:
    """Raise ConfigurationInvalid naming the field for a configuration that cannot bill."""
    if not config.products:
        raise ConfigurationInvalid(f"configuration {config.key}: products: choose at least one product")
    unknown = [p for p in config.products if p not in products]
    if unknown:
        raise ConfigurationInvalid(f"configuration {config.key}: products: unknown product(s) {', '.join(unknown)}")
    kinds = {products[p].kind for p in config.products}
    if {ProductKind.STORAGE, ProductKind.LICENSE} <= kinds and config.data_mode is not DataMode.TOTAL:
        raise ConfigurationInvalid(
            f"configuration {config.key}: data_mode: storage and licenses in one configuration can only be billed "
            "as total cost and price (quantity 1); choose data mode total, or make one configuration for "
            "storage and one for licenses"
        )
    units = {products[p].unit for p in config.products}
    if len(units) > 1 and config.data_mode is not DataMode.TOTAL:
        raise ConfigurationInvalid(
            f"configuration {config.key}: data_mode: products in different units ({', '.join(sorted(units))}) "
            "can only be billed as a total"
        )
    if config.ranges and (config.data_mode is DataMode.TOTAL or len(config.products) != 1):
        raise ConfigurationInvalid(
            f"configuration {config.key}: ranges: GB ranges need one product and a data mode other than total"
        )
    if not config.ranges and config.cw_product is None:
        mapped = {products[p].cw_product for p in config.products}
        if None in mapped or len(mapped) != 1:
            raise ConfigurationInvalid(
                f"configuration {config.key}: cw_product: choose the ConnectWise product (the products are not "
                "mapped to one)"
            )
    if config.block_size is not None and config.block_size <= 0:
        raise ConfigurationInvalid(f"configuration {config.key}: block_size: must be positive")
    if config.included < 0:
        raise ConfigurationInvalid(f"configuration {config.key}: included: cannot be negative")


@dataclass(frozen=True)
class LineKey:
    """The identity of a desired line (DESIGN.md guarantee 2): stable across runs."""

    customer: str
    configuration: str
    cw_product: str
    period: str  # "2026-10", or "running" for the running strategy

    def __str__(self) -> str:
        return f"{self.customer}/{self.configuration}/{self.cw_product}/{self.period}"


@dataclass(frozen=True)
class DesiredLine:
    """What ConnectWise should hold for one (customer, configuration, CW product, period)."""

    key: LineKey
    customer: str
    configuration: str
    cw_product: str
    quantity: Decimal
    unit_price: Decimal | None  # None: quantity only, ConnectWise's price applies
    unit_cost: Decimal | None
    bill_customer: BillMode
    description: str | None
    strategy: Strategy
    zero_policy: ZeroPolicy
    amount: Decimal
    explanation: Explanation = field(default_factory=Explanation)


def _resolve_price(
    customer: str, product: str, prices: Mapping[str, Price], overrides: Mapping[tuple[str, str], Price]
) -> tuple[Price, str]:
    if (customer, product) in overrides:
        return overrides[(customer, product)], f"price for {customer} (override)"
    if product in prices:
        return prices[product], "price list"
    return UNSET_PRICE, "no price set"


def build_lines(
    config: BillingConfiguration,
    products: Mapping[str, Product],
    quantities: Mapping[str, tuple[Decimal, Explanation]],
    prices: Mapping[str, Price],
    overrides: Mapping[tuple[str, str], Price],
    period: Period,
    *,
    default_places: int = 2,
) -> list[DesiredLine]:
    """The desired lines of one configuration for ``period`` (empty when DoNotBill or disabled)."""
    validate_configuration(config, products)
    if not config.enabled or config.bill_mode is BillMode.DO_NOT_BILL:
        return []
    period_key = str(period) if config.strategy is Strategy.PER_PERIOD else "running"

    if config.ranges:
        [product_key] = config.products
        product = products[product_key]
        quantity, explanation = quantities.get(product_key, (ZERO, Explanation()))
        lines = []
        for share_range, share in split_ranges(quantity, config.ranges):
            priced = price_quantity(
                share, share_range.price, block_size=config.block_size, unit_label=product.unit.value
            )
            step = Step("range", f"{share} {product.unit.value} of {quantity} to {share_range.cw_product}", share)
            lines.append(
                _line(
                    config,
                    share_range.cw_product,
                    period_key,
                    period,
                    [(product, priced)],
                    explanation.then(step, *priced.steps),
                    default_places,
                )
            )
        return lines

    priced_products: list[tuple[Product, Priced]] = []
    explanation = Explanation()
    included_left = config.included  # consumed by the products in the configuration's order
    for product_key in config.products:
        product = products[product_key]
        quantity, product_explanation = quantities.get(product_key, (ZERO, Explanation()))
        price, source = _resolve_price(config.customer, product_key, prices, overrides)
        included = min(included_left, quantity)
        included_left -= included
        priced = price_quantity(
            quantity,
            price,
            included=included,
            block_size=config.block_size,
            unit_label=product.unit.value,
        )
        explanation = explanation.then(
            Step("usage", f"{product.name}: {quantity} {product.unit.value} ({source})", quantity),
            *product_explanation.steps,
            *priced.steps,
        )
        priced_products.append((product, priced))
    cw_product = config.cw_product or products[config.products[0]].cw_product
    assert cw_product is not None  # validate_configuration made sure
    return [_line(config, cw_product, period_key, period, priced_products, explanation, default_places)]


def _line(
    config: BillingConfiguration,
    cw_product: str,
    period_key: str,
    period: Period,
    priced: Sequence[tuple[Product, Priced]],
    explanation: Explanation,
    places: int,
) -> DesiredLine:
    total_quantity = sum((p.quantity for _, p in priced), ZERO)
    total_amount = sum((p.amount for _, p in priced), ZERO)
    total_cost = sum((p.cost_amount for _, p in priced), ZERO)
    unit_price: Decimal | None
    unit_cost: Decimal | None
    if config.data_mode is DataMode.TOTAL:
        quantity = Decimal(1)
        unit_price, unit_cost = total_amount, total_cost
        mode = f"total: quantity 1 at {total_amount} (cost {total_cost})"
    elif config.data_mode is DataMode.QUANTITY_ONLY:
        quantity = round_quantity(total_quantity)
        unit_price = unit_cost = None
        mode = f"quantity only: {quantity}; ConnectWise's product price applies"
    else:
        quantity = round_quantity(total_quantity)
        with localcontext() as context:
            context.prec = 50
            unit_price = round_price(total_amount / total_quantity, places) if total_quantity else ZERO
            unit_cost = round_price(total_cost / total_quantity, places) if total_quantity else ZERO
        mode = f"average: {quantity} at {unit_price} (weighted: {total_amount} / {total_quantity})"
    steps = [Step("mode", mode, quantity)]
    if quantity != total_quantity and config.data_mode is not DataMode.TOTAL:
        steps.append(Step("rounding", f"quantity {total_quantity} rounded to {quantity} (2 decimals, half up)"))
    if config.bill_mode is BillMode.NO_CHARGE:
        unit_price = ZERO if unit_price is not None else None
        steps.append(Step("mode", "no charge: sent at price 0, shown on the invoice", ZERO))
    amount = round_amount(quantity * unit_price) if unit_price is not None else ZERO
    product = priced[0][0]
    description = (
        config.description.render(
            product=product.name, period=period, quantity=quantity, unit=product.unit.value, customer=config.customer
        )
        if config.description
        else None
    )
    return DesiredLine(
        key=LineKey(config.customer, config.key, cw_product, period_key),
        customer=config.customer,
        configuration=config.key,
        cw_product=cw_product,
        quantity=quantity,
        unit_price=unit_price,
        unit_cost=unit_cost,
        bill_customer=config.bill_mode,
        description=description,
        strategy=config.strategy,
        zero_policy=config.zero_policy,
        amount=amount,
        explanation=explanation.then(*steps),
    )
