"""Billing configurations and the desired lines they produce for a period.

A configuration (several per customer are allowed) names products, the ConnectWise product (or
GB ranges, each to its own product), the agreement (a rule or a pin), and how to bill:

* bill mode, sent as the addition's ``billCustomer``: ``Billable``; ``NoCharge`` sends the line
  at price 0 with its cost (it shows on the invoice, free); ``DoNotBill`` sends the line priced
  as usual, which ConnectWise shows on the agreement and never invoices;
* data mode: ``average`` (quantity = all units, unit price derived from the amount: see
  ``money.unit_price_for``), ``total`` (quantity 1, unit price = the amount), ``quantity`` (the
  quantity only, no prices: ConnectWise's product prices apply). Storage and licenses in one
  configuration allow ``total`` only;
* block size and included quantity (before ranges and tiers), zero policy, addition strategy,
  and the date policies (billStartDate, already-invoiced periods), None: the tenant's.

Which options combine is decided in ``validate_configuration``; docs/billing-core.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from meterbridge.domain.description import BLOCKS_DEFAULT, DescriptionTemplate
from meterbridge.domain.errors import ConfigurationInvalid
from meterbridge.domain.explanation import Explanation, Step
from meterbridge.domain.money import ZERO, round_amount, round_quantity, unit_price_for
from meterbridge.domain.periods import Period
from meterbridge.domain.policies import BillStartPolicy, InvoicedPolicy
from meterbridge.domain.pricing import (
    UNSET_PRICE,
    Price,
    Priced,
    Range,
    check_ranges,
    price_quantity,
    round_usage_quantity,
    split_ranges,
)
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
    bill_start_policy: BillStartPolicy | None = None  # None: the tenant's
    invoiced_policy: InvoicedPolicy | None = None


def validate_configuration(config: BillingConfiguration, products: Mapping[str, Product]) -> None:
    """Raise ConfigurationInvalid naming the field for a configuration that cannot bill as asked.

    Every option is either honoured in every combination it is accepted in, or refused here.
    """
    where = f"configuration {config.key}"
    if not config.products:
        raise ConfigurationInvalid(f"{where}: products: choose at least one product")
    unknown = [p for p in config.products if p not in products]
    if unknown:
        raise ConfigurationInvalid(f"{where}: products: unknown product(s) {', '.join(unknown)}")
    if len(set(config.products)) != len(config.products):
        raise ConfigurationInvalid(f"{where}: products: a product is named twice")
    kinds = {products[p].kind for p in config.products}
    if {ProductKind.STORAGE, ProductKind.LICENSE} <= kinds and config.data_mode is not DataMode.TOTAL:
        raise ConfigurationInvalid(
            f"{where}: data_mode: storage and licenses in one configuration can only be billed "
            "as total cost and price (quantity 1); choose data mode total, or make one configuration for "
            "storage and one for licenses"
        )
    units = {products[p].unit for p in config.products}
    if len(units) > 1 and config.data_mode is not DataMode.TOTAL:
        raise ConfigurationInvalid(
            f"{where}: data_mode: products in different units ({', '.join(sorted(units))}) "
            "can only be billed as a total"
        )
    if config.ranges:
        _validate_ranges(config, where)
    elif config.cw_product is None:
        mapped = {products[p].cw_product for p in config.products}
        if None in mapped or len(mapped) != 1:
            raise ConfigurationInvalid(
                f"{where}: cw_product: choose the ConnectWise product (the products are not mapped to one)"
            )
    if config.block_size is not None and config.block_size <= 0:
        raise ConfigurationInvalid(f"{where}: block_size: must be positive")
    if config.included < 0:
        raise ConfigurationInvalid(f"{where}: included: cannot be negative")
    if config.zero_policy is ZeroPolicy.CANCEL and config.strategy is Strategy.PER_PERIOD:
        raise ConfigurationInvalid(
            f"{where}: zero_policy: a per-period addition already ends with its period, so there is nothing to "
            "cancel: choose zero (quantity 0) or leave"
        )


def _validate_ranges(config: BillingConfiguration, where: str) -> None:
    if config.data_mode is DataMode.TOTAL or len(config.products) != 1:
        raise ConfigurationInvalid(f"{where}: ranges: GB ranges need one product and a data mode other than total")
    if config.cw_product is not None:
        raise ConfigurationInvalid(
            f"{where}: cw_product: each range names its own ConnectWise product; leave cw_product out"
        )
    try:
        check_ranges(config.ranges)
    except ConfigurationInvalid as error:
        raise ConfigurationInvalid(f"{where}: {error}") from None
    if config.data_mode is DataMode.QUANTITY_ONLY:
        priced = [
            str(n) for n, r in enumerate(config.ranges, start=1) if r.unit_price is not None or r.unit_cost is not None
        ]
        if priced:
            raise ConfigurationInvalid(
                f"{where}: ranges: range(s) {', '.join(priced)} have a price, but quantity only sends no price "
                "(ConnectWise's catalog price applies): leave the range prices out, or choose data mode average"
            )


@dataclass(frozen=True)
class LineKey:
    """The identity of a desired line (DESIGN.md guarantee 2): stable across runs."""

    customer: str
    configuration: str
    cw_product: str
    period: str  # "2026-10", or "running" for the running strategy

    def __str__(self) -> str:
        return f"{self.customer}/{self.configuration}/{self.cw_product}/{self.period}"

    @property
    def prefix(self) -> str:
        """The line without its period: what a switch of strategy keeps."""
        return f"{self.customer}/{self.configuration}/{self.cw_product}"

    @staticmethod
    def split(text: str) -> tuple[str, str]:
        """(the line without its period, the period) of a key ``str()`` wrote, for hot loops."""
        prefix, _, period = text.rpartition("/")
        return prefix, period

    @staticmethod
    def customer_of(text: str) -> str:
        return text.partition("/")[0]

    @classmethod
    def parse(cls, text: str) -> LineKey:
        """The key ``str()`` wrote: customer and configuration keys hold no '/', a ConnectWise
        product identifier may, and the period ("2026-10" or "running") comes last."""
        customer, configuration, rest = text.split("/", 2)
        cw_product, _, period = rest.rpartition("/")
        if not (customer and configuration and cw_product and period):
            raise ValueError(f"not a line key: {text!r}")
        return cls(customer, configuration, cw_product, period)


@dataclass(frozen=True)
class DesiredLine:
    """What ConnectWise should hold for one (customer, configuration, CW product, period).

    ``amount`` and ``cost_amount`` are the extended price and cost ConnectWise computes from
    ``quantity`` and the unit price and cost (to cents); ``billed`` is what the invoice charges.
    """

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
    cost_amount: Decimal = ZERO
    bill_start_policy: BillStartPolicy | None = None
    invoiced_policy: InvoicedPolicy | None = None

    @property
    def billed(self) -> Decimal:
        return self.amount if self.bill_customer is BillMode.BILLABLE else ZERO


_NO_USAGE = (ZERO, Explanation())  # a product without samples


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
) -> list[DesiredLine]:
    """The desired lines of one configuration for ``period`` (empty when disabled)."""
    validate_configuration(config, products)
    if not config.enabled:
        return []
    period_key = str(period) if config.strategy is Strategy.PER_PERIOD else "running"
    if config.ranges:
        return _range_lines(config, products, quantities, prices, overrides, period, period_key)

    priced_products: list[tuple[Product, Priced]] = []
    steps: list[Step] = []
    included_left = config.included  # consumed by the products in the configuration's order
    for product_key in config.products:
        product = products[product_key]
        quantity, product_explanation = quantities.get(product_key, _NO_USAGE)
        price, source = _resolve_price(config.customer, product_key, prices, overrides)
        included = min(included_left, round_quantity(quantity))  # of what is billed: 2 decimals
        included_left -= included
        unit = product.unit.value
        priced = price_quantity(quantity, price, included=included, block_size=config.block_size, unit_label=unit)
        steps.append(Step("usage", f"{product.name}: {quantity} {unit} ({source})", quantity))
        steps += product_explanation.steps
        steps += priced.steps
        priced_products.append((product, priced))
    cw_product = config.cw_product or products[config.products[0]].cw_product
    assert cw_product is not None  # validate_configuration made sure
    return [_line(config, cw_product, period_key, period, priced_products, steps)]


def _range_lines(
    config: BillingConfiguration,
    products: Mapping[str, Product],
    quantities: Mapping[str, tuple[Decimal, Explanation]],
    prices: Mapping[str, Price],
    overrides: Mapping[tuple[str, str], Price],
    period: Period,
    period_key: str,
) -> list[DesiredLine]:
    """Included quantity first, then each range's share of the billable usage, priced on its own."""
    [product_key] = config.products
    product = products[product_key]
    unit = product.unit.value
    quantity, usage_explanation = quantities.get(product_key, _NO_USAGE)
    listed, source = _resolve_price(config.customer, product_key, prices, overrides)
    billable, rounding = round_usage_quantity(quantity, unit)
    explanation = Explanation((Step("usage", f"{product.name}: {quantity} {unit}", quantity),)).then(
        *usage_explanation.steps, *rounding
    )
    if config.included:
        left = max(ZERO, billable - config.included)
        explanation = explanation.then(Step("included", f"{billable} - {config.included} included = {left}", left))
        billable = left
    lines = []
    for position, (share_range, share) in enumerate(split_ranges(billable, config.ranges), start=1):
        price = share_range.price(listed)
        origin = "the range's own price" if share_range.unit_price is not None else f"price from the {source}"
        if price is None:
            if listed.tiers:
                raise ConfigurationInvalid(
                    f"configuration {config.key}: ranges: range {position} takes its price from the {source} of "
                    f"{product_key}, which has tiers: give the range its own price (ranges are tiers already)"
                )
            price = listed
        priced = price_quantity(share, price, block_size=config.block_size, unit_label=unit)
        lower = config.ranges[position - 2].up_to if position > 1 else ZERO
        bound = f"{lower} to {share_range.up_to}" if share_range.up_to is not None else f"over {lower}"
        step = Step(
            "range", f"range {position} ({bound} {unit}): {share} {unit} to {share_range.cw_product} ({origin})", share
        )
        lines.append(
            _line(
                config,
                share_range.cw_product,
                period_key,
                period,
                [(product, priced)],
                [*explanation.steps, step, *priced.steps],
            )
        )
    return lines


def _line(
    config: BillingConfiguration,
    cw_product: str,
    period_key: str,
    period: Period,
    priced: Sequence[tuple[Product, Priced]],
    steps: list[Step],
) -> DesiredLine:
    """The line of ``priced`` (one product, or several billed as one), its explanation ``steps``
    so far followed by how its quantity, unit price and description were sent."""
    sent = sum((p.quantity for _, p in priced), ZERO)
    amount = sum((p.amount for _, p in priced), ZERO)
    cost_amount = sum((p.cost_amount for _, p in priced), ZERO)
    places = max(p.places for _, p in priced)
    unit_price: Decimal | None
    unit_cost: Decimal | None
    if config.data_mode is DataMode.TOTAL:
        quantity = Decimal(1)
        unit_price, unit_cost = amount, cost_amount
        steps.append(Step("data mode", f"total: quantity 1 at {amount} (cost {cost_amount})", quantity))
    elif config.data_mode is DataMode.QUANTITY_ONLY:
        quantity = round_quantity(sent)
        unit_price = unit_cost = None
        amount = cost_amount = ZERO
        steps.append(Step("data mode", f"quantity only: {quantity}; ConnectWise's product price applies", quantity))
    else:
        quantity = round_quantity(sent)
        unit_price = _average(amount, sent, places, [p for _, p in priced], cost=False)
        unit_cost = _average(cost_amount, sent, places, [p for _, p in priced], cost=True)
        steps.append(Step("unit price", _average_detail(sent, amount, unit_price, places, "price"), unit_price))
        if unit_cost != ZERO or cost_amount != ZERO:
            steps.append(Step("unit cost", _average_detail(sent, cost_amount, unit_cost, places, "cost"), unit_cost))
    if config.bill_mode is BillMode.NO_CHARGE:
        unit_price = ZERO if unit_price is not None else None
        amount = ZERO
        steps.append(Step("bill mode", "no charge: sent at price 0 with its cost, shown on the invoice free", ZERO))
    elif config.bill_mode is BillMode.DO_NOT_BILL:
        steps.append(
            Step(
                "bill mode",
                "do not bill: sent with billCustomer DoNotBill, shown on the agreement, never invoiced",
                ZERO,
            )
        )
    product = priced[0][0]
    description = _description(config, product, period, sent)  # as billed, without trailing zeros
    if description is not None:
        steps.append(Step("description", f"invoice description: {description}"))
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
        explanation=Explanation(tuple(steps)),
        cost_amount=cost_amount,
        bill_start_policy=config.bill_start_policy,
        invoiced_policy=config.invoiced_policy,
    )


def _average(amount: Decimal, quantity: Decimal, places: int, priced: Sequence[Priced], *, cost: bool) -> Decimal:
    """The unit price (or cost) of an average line: the amount over the quantity, exact to the cent."""
    if len(priced) == 1:  # one product: its own, worked out the same way when it was priced
        return priced[0].unit_cost if cost else priced[0].unit_price
    rates = {p.cost_rate if cost else p.rate for p in priced}
    flat = all(p.flat for p in priced) and len(rates) == 1
    if quantity == 0:
        return next(iter(sorted(rates)))
    if flat:
        [rate] = rates
        if round_amount(quantity * rate) == amount:
            return rate
    return unit_price_for(amount, quantity, places)


def _average_detail(quantity: Decimal, amount: Decimal, unit: Decimal, places: int, what: str) -> str:
    if quantity == 0:
        return f"data mode average: no units billed, {what} {unit} per unit kept"
    extended = quantity * unit
    text = f"data mode average: {quantity} x {unit} = {round_amount(extended)}"
    decimals = max(0, -int(unit.as_tuple().exponent))
    if decimals > places:
        text += (
            f" ({what} {amount} / {quantity} with {decimals} decimals, more than the price list's {places}, so that "
            f"{quantity} x {unit} = {extended.normalize():f} bills exactly {amount})"
        )
    return text


def _description(config: BillingConfiguration, product: Product, period: Period, quantity: Decimal) -> str | None:
    template = config.description
    if template is None and config.block_size is not None:
        template = DescriptionTemplate(BLOCKS_DEFAULT)
    if template is None:
        return None
    return template.render(
        product=product.name,
        period=period,
        quantity=quantity,
        unit=product.unit.value,
        customer=config.customer,
        block_size=config.block_size,
    )
