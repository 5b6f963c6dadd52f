"""From the store to the billing core: what a period should bill, per customer and configuration.

Loads customers, links, products, prices, configurations, rules, pins and the period's usage in
one read, aggregates usage per product (the basis the product names) and builds the desired
lines with their explanations. Pure functions of the core do the work; this module only gathers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterbridge.domain.billing import BillingConfiguration, DesiredLine, build_lines
from meterbridge.domain.billing import Product as DomainProduct
from meterbridge.domain.errors import DomainError
from meterbridge.domain.explanation import Explanation, Step
from meterbridge.domain.periods import Period
from meterbridge.domain.pricing import Price as DomainPrice
from meterbridge.domain.units import Unit
from meterbridge.domain.usage import Aggregate, UsageSample, aggregate
from meterbridge.services.catalog import domain_price
from meterbridge.services.configurations import DEFAULT_AGREEMENT_RULE, domain_configuration, domain_product, overlaps
from meterbridge.services.tenants import TenantSettings, settings_of, tenant_row
from meterbridge.store.models import (
    BillingConfigurationRow,
    Customer,
    JournalEntry,
    LineIdentity,
    Link,
    Pin,
    Price,
    Product,
    RuleRow,
    Run,
    UsageSampleRow,
)

#: How far before a period samples are read, for the value carried into it (time-weighted average).
LOOKBACK = timedelta(days=45)


@dataclass(frozen=True)
class CustomerInfo:
    id: int
    external_id: str
    name: str
    push_enabled: bool
    managed_id: str | None
    cw_company_id: int | None
    link_how: str


@dataclass(frozen=True)
class ConfiguredLine:
    """A desired line with what resolving its agreement and addition needs."""

    line: DesiredLine
    configuration_id: int
    agreement_rule: tuple[str, str] | None  # (name, text)
    addition_rule: tuple[str, str] | None
    agreement_pin: int | None
    addition_pin: int | None


@dataclass(frozen=True)
class Identity:
    line_key: str
    agreement_id: int
    addition_id: int
    adopted: bool
    last_written: datetime
    last_period: Period | None = None


@dataclass
class Inputs:
    tenant_id: int
    time_zone: ZoneInfo
    settings: TenantSettings
    period: Period
    customers: dict[str, CustomerInfo]
    products: dict[str, DomainProduct]
    lines: list[ConfiguredLine] = field(default_factory=list)
    configuration_errors: dict[str, list[str]] = field(default_factory=dict)  # customer -> messages
    usage: dict[tuple[str, str], Aggregate] = field(default_factory=dict)  # (customer, product)
    identities: dict[int, Identity] = field(default_factory=dict)  # addition id -> identity
    sampled: set[tuple[str, str]] = field(default_factory=set)  # (customer, product) with usage in the period
    configuration_products: dict[int, tuple[str, ...]] = field(default_factory=dict)
    pushed_at: datetime | None = None  # when a write of this period first landed: later samples are late
    overlaps: dict[str, list[str]] = field(default_factory=dict)  # customer -> "product: config, config" billed twice


def load_inputs(session: Session, tenant: str, period: Period, *, only: frozenset[str] | None = None) -> Inputs:
    row = tenant_row(session, tenant)
    zone = ZoneInfo(row.time_zone)
    links = {
        link.customer_id: link
        for link in session.scalars(select(Link).join(Customer).where(Customer.tenant_id == row.id))
    }
    customers: dict[str, CustomerInfo] = {}
    by_id: dict[int, CustomerInfo] = {}
    for customer in session.scalars(select(Customer).where(Customer.tenant_id == row.id)):
        if only is not None and customer.external_id not in only:
            continue
        link = links.get(customer.id)
        info = CustomerInfo(
            customer.id,
            customer.external_id,
            customer.name,
            customer.push_enabled,
            customer.managed_id,
            link.cw_company_id if link else None,
            link.how if link else "",
        )
        customers[info.external_id] = info
        by_id[info.id] = info
    product_rows = list(session.scalars(select(Product).where(Product.tenant_id == row.id)))
    products = {p.key: domain_product(p) for p in product_rows}
    product_keys = {p.id: p.key for p in product_rows}
    inputs = Inputs(row.id, zone, settings_of(row), period, customers, products)

    prices: dict[str, DomainPrice] = {}
    overrides: dict[tuple[str, str], DomainPrice] = {}
    for price in session.scalars(select(Price).where(Price.tenant_id == row.id)):
        if price.customer_id is None:
            prices[product_keys[price.product_id]] = domain_price(price)
        elif price.customer_id in by_id:
            overrides[(by_id[price.customer_id].external_id, product_keys[price.product_id])] = domain_price(price)

    rules = {r.name: r for r in session.scalars(select(RuleRow).where(RuleRow.tenant_id == row.id))}
    pins = {
        (p.configuration_id, p.target): p.cw_id for p in session.scalars(select(Pin).where(Pin.tenant_id == row.id))
    }

    start, end = period.start(zone), period.end(zone)
    samples: dict[tuple[str, str], list[UsageSample]] = defaultdict(list)
    query = select(UsageSampleRow).where(
        UsageSampleRow.tenant_id == row.id,
        UsageSampleRow.measured_at >= start - LOOKBACK,
        UsageSampleRow.measured_at < end,
        UsageSampleRow.withdrawn_at.is_(None),
    )
    inputs.pushed_at = first_pushed(session, row.id, period)
    for sample in session.scalars(query):
        owner = by_id.get(sample.customer_id)
        if owner is None:
            continue
        key = (owner.external_id, product_keys[sample.product_id])
        if sample.measured_at >= start:
            inputs.sampled.add(key)
        samples[key].append(
            UsageSample(key[0], key[1], sample.measured_at, sample.quantity, Unit(sample.unit), sample.received_at)
        )

    configs = list(
        session.scalars(
            select(BillingConfigurationRow)
            .where(BillingConfigurationRow.tenant_id == row.id)
            .order_by(BillingConfigurationRow.key)
        )
    )
    per_customer: dict[int, list[tuple[str, bool, dict[str, Any]]]] = defaultdict(list)
    for config_row in configs:
        per_customer[config_row.customer_id].append((config_row.key, config_row.enabled, config_row.options))
    for config_row in configs:
        owner = by_id.get(config_row.customer_id)
        if owner is None or not owner.push_enabled:
            continue
        inputs.configuration_products[config_row.id] = tuple(config_row.options.get("products", ()))
        doubled = {
            product: [k for k in keys if k != config_row.key]
            for product, keys in overlaps(per_customer[config_row.customer_id]).items()
            if config_row.key in keys
        }
        try:
            config = domain_configuration(config_row, owner.external_id)
            quantities = _quantities(config, products, samples, inputs, start, end)
            lines = build_lines(config, products, quantities, prices, overrides, period)
        except (DomainError, ValueError) as error:
            inputs.configuration_errors.setdefault(owner.external_id, []).append(
                f"configuration {config_row.key}: {error}"
            )
            continue
        options = config_row.options
        agreement_rule_name = options.get("agreement_rule") or DEFAULT_AGREEMENT_RULE
        agreement_rule = rules.get(agreement_rule_name)
        addition_rule = rules.get(options["addition_rule"]) if options.get("addition_rule") else None
        if doubled:
            inputs.overlaps[owner.external_id] = sorted(
                {
                    *inputs.overlaps.get(owner.external_id, []),
                    *(f"{p}: {config_row.key}, {', '.join(k)}" for p, k in doubled.items()),
                }
            )
            warning = Step(
                "overlap",
                "double billing (allow_overlap): "
                + "; ".join(f"{p} is also billed by configuration {', '.join(k)}" for p, k in sorted(doubled.items())),
                warning=True,
            )
            lines = [replace(line, explanation=line.explanation.then(warning)) for line in lines]
        for line in lines:
            inputs.lines.append(
                ConfiguredLine(
                    line,
                    config_row.id,
                    (agreement_rule.name, agreement_rule.text) if agreement_rule else None,
                    (addition_rule.name, addition_rule.text) if addition_rule else None,
                    pins.get((config_row.id, "agreement")),
                    pins.get((config_row.id, "addition")),
                )
            )

    for (customer_key, product_key), items in samples.items():
        if (customer_key, product_key) not in inputs.usage:
            product = products[product_key]
            inputs.usage[(customer_key, product_key)] = aggregate(
                items, start, end, product.basis, product.unit, pushed_at=inputs.pushed_at
            )

    for identity in session.scalars(select(LineIdentity).where(LineIdentity.tenant_id == row.id)):
        inputs.identities[identity.addition_id] = Identity(
            identity.line_key,
            identity.agreement_id,
            identity.addition_id,
            identity.adopted,
            identity.last_written,
            Period.parse(identity.last_period) if identity.last_period else None,
        )
    return inputs


def first_pushed(session: Session, tenant_id: int, period: Period) -> datetime | None:
    """When the first write of ``period`` landed in ConnectWise (None: it was never pushed)."""
    return session.scalar(
        select(func.min(JournalEntry.completed_at))
        .join(Run, Run.id == JournalEntry.run_id)
        .where(JournalEntry.tenant_id == tenant_id, Run.period == str(period), JournalEntry.addition_id.is_not(None))
    )


def _quantities(
    config: BillingConfiguration,
    products: dict[str, DomainProduct],
    samples: dict[tuple[str, str], list[UsageSample]],
    inputs: Inputs,
    start: datetime,
    end: datetime,
) -> dict[str, tuple[Decimal, Explanation]]:
    quantities = {}
    for key in config.products:
        product = products.get(key)
        if product is None:
            continue  # validate_configuration names it
        total = aggregate(
            samples.get((config.customer, key), []),
            start,
            end,
            product.basis,
            product.unit,
            pushed_at=inputs.pushed_at,
        )
        inputs.usage[(config.customer, key)] = total
        quantities[key] = (total.quantity, total.explanation)
    return quantities
