"""From the store to the billing core: what a period should bill, per customer and configuration.

Loads customers, links, products, prices, configurations, rules, pins and the period's usage in
one read (the tenant-wide ones, ``TenantRows``, once for a run of many chunks), aggregates usage
per product (the basis the product names) and builds the desired lines with their explanations.
Pure functions of the core do the work; this module only gathers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from meterbridge.domain.billing import BillingConfiguration, DesiredLine, build_lines
from meterbridge.domain.billing import Product as DomainProduct
from meterbridge.domain.errors import DomainError
from meterbridge.domain.explanation import Explanation, Step
from meterbridge.domain.periods import Period
from meterbridge.domain.pricing import Price as DomainPrice
from meterbridge.domain.units import Unit
from meterbridge.domain.usage import Aggregate, UsageSample, aggregate
from meterbridge.services.configuration_options import DEFAULT_AGREEMENT_RULE, domain_configuration
from meterbridge.services.configurations import overlaps
from meterbridge.services.phases import Phases
from meterbridge.services.prices import domain_price
from meterbridge.services.products import domain_product
from meterbridge.services.scope import TenantScope
from meterbridge.services.tenant_settings import TenantSettings
from meterbridge.store.models import BillingConfigurationRow
from meterbridge.store.repos import catalog, customers, journal, runs
from meterbridge.store.repos import configurations as configs
from meterbridge.store.repos import usage as samples_repo

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
    beside: frozenset[int] = frozenset()  # additions nobody owns it bills beside, acknowledged


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


@dataclass(frozen=True)
class TenantRows:
    """What every customer of a run is priced and planned with, read once in one transaction: the
    tenant's products, price lists and rules, when the period was first written, and whom
    meterbridge owns each addition for. A run in chunks of customers (``planning.plan_in_chunks``)
    prices every chunk with these, so a price or rule edited while it runs does not bill some
    customers by the old one and others by the new; the edit counts from the next run. What
    belongs to a customer (its configurations, their pins, its own prices, its usage) is read
    with its chunk."""

    products: dict[str, DomainProduct]
    product_keys: dict[int, str]  # product row id -> key
    prices: dict[str, DomainPrice]  # product key -> the tenant's price list
    rules: dict[str, tuple[str, str]]  # name -> (name, text)
    pushed_at: datetime | None  # when a write of the period first landed: later samples are late
    identities: dict[int, Identity]


def read_tenant_rows(session: Session, tenant_id: int, period: Period) -> TenantRows:
    product_rows = catalog.products(session, tenant_id)
    product_keys = {p.id: p.key for p in product_rows}
    return TenantRows(
        products={p.key: domain_product(p) for p in product_rows},
        product_keys=product_keys,
        prices={
            product_keys[price.product_id]: domain_price(price)
            for price in catalog.prices(session, tenant_id, ())
            if price.customer_id is None
        },
        rules={r.name: (r.name, r.text) for r in configs.rules(session, tenant_id)},
        pushed_at=runs.first_write_of(session, tenant_id, str(period)),
        identities=load_identities(session, tenant_id),
    )


def load_inputs(
    session: Session,
    scope: TenantScope,
    period: Period,
    *,
    only: frozenset[str] | None = None,
    phases: Phases | None = None,
    tenant: TenantRows | None = None,
) -> Inputs:
    """Everything a period's plan needs from the store, in one transaction (``phases``: where the
    pricing's time is counted). ``only``: those customers, read as such (a chunk of a big tenant
    reads its own rows, not the tenant's); ``tenant``: the tenant's rows, read already for the run
    (None: read here). A row naming a product the run's rows do not know (made since) is left out."""
    phases = phases or Phases(scope.ctx.monotonic)
    tenant_id = scope.id
    tenant = tenant or read_tenant_rows(session, tenant_id, period)
    known = _customers(session, tenant_id, only)
    products = tenant.products
    inputs = Inputs(tenant_id, scope.zone, scope.settings, period, known, products)
    by_id = {info.id: info for info in known.values()}
    ids = None if only is None else list(by_id)
    overrides = _overrides(session, tenant_id, by_id, tenant.product_keys, ids)
    inputs.pushed_at = tenant.pushed_at
    start, end = period.start(scope.zone), period.end(scope.zone)
    samples = _samples(session, inputs, by_id, tenant.product_keys, start, end, ids)
    with phases.timing("price"):
        _lines(session, inputs, by_id, samples, tenant, overrides, start, end, ids)
    for (customer_key, product_key), items in samples.items():
        if (customer_key, product_key) not in inputs.usage:  # usage no configuration bills (the leak report)
            product = products[product_key]
            try:
                inputs.usage[(customer_key, product_key)] = aggregate(
                    items, start, end, product.basis, product.unit, pushed_at=inputs.pushed_at
                )
            except DomainError as error:
                inputs.configuration_errors.setdefault(customer_key, []).append(f"usage of {product_key}: {error}")
    inputs.identities = tenant.identities
    return inputs


def load_identities(session: Session, tenant_id: int) -> dict[int, Identity]:
    """Addition id -> the line meterbridge owns it for, the tenant's every one (whatever part of
    it is planned: an addition another customer owns is never adopted)."""
    return {
        identity.addition_id: Identity(
            identity.line_key,
            identity.agreement_id,
            identity.addition_id,
            identity.adopted,
            identity.last_written,
            Period.parse(identity.last_period) if identity.last_period else None,
        )
        for identity in journal.identities(session, tenant_id)
    }


def _customers(session: Session, tenant_id: int, only: frozenset[str] | None) -> dict[str, CustomerInfo]:
    rows = customers.all_of(session, tenant_id, only)
    links = customers.links_of(session, tenant_id, None if only is None else [c.id for c in rows])
    known: dict[str, CustomerInfo] = {}
    for customer in rows:
        link = links.get(customer.id)
        known[customer.external_id] = CustomerInfo(
            customer.id,
            customer.external_id,
            customer.name,
            customer.push_enabled,
            customer.managed_id,
            link.cw_company_id if link else None,
            link.how if link else "",
        )
    return known


def _overrides(
    session: Session,
    tenant_id: int,
    by_id: dict[int, CustomerInfo],
    product_keys: dict[int, str],
    ids: list[int] | None,
) -> dict[tuple[str, str], DomainPrice]:
    """(customer, product) -> the customer's own price, of the customers read."""
    overrides: dict[tuple[str, str], DomainPrice] = {}
    for price in catalog.prices(session, tenant_id, ids):
        owner = by_id.get(price.customer_id) if price.customer_id is not None else None
        if owner is not None and price.product_id in product_keys:
            overrides[(owner.external_id, product_keys[price.product_id])] = domain_price(price)
    return overrides


def _samples(
    session: Session,
    inputs: Inputs,
    by_id: dict[int, CustomerInfo],
    product_keys: dict[int, str],
    start: datetime,
    end: datetime,
    ids: list[int] | None,
) -> dict[tuple[str, str], list[UsageSample]]:
    """The period's samples (and LOOKBACK before it, for the value a time-weighted average carries in)."""
    samples: dict[tuple[str, str], list[UsageSample]] = defaultdict(list)
    for sample in samples_repo.in_window(session, inputs.tenant_id, start - LOOKBACK, end, ids):
        owner = by_id.get(sample.customer_id)
        if owner is None or sample.product_id not in product_keys:
            continue
        key = (owner.external_id, product_keys[sample.product_id])
        if sample.measured_at >= start:
            inputs.sampled.add(key)
        samples[key].append(
            UsageSample(key[0], key[1], sample.measured_at, sample.quantity, Unit(sample.unit), sample.received_at)
        )
    return samples


def _lines(
    session: Session,
    inputs: Inputs,
    by_id: dict[int, CustomerInfo],
    samples: dict[tuple[str, str], list[UsageSample]],
    tenant: TenantRows,
    overrides: dict[tuple[str, str], DomainPrice],
    start: datetime,
    end: datetime,
    ids: list[int] | None,
) -> None:
    """The desired lines of every enabled configuration of a customer whose push is enabled."""
    rows = configs.all_of(session, inputs.tenant_id, ids)
    pins = configs.pins(session, inputs.tenant_id, ids)
    per_customer: dict[int, list[tuple[str, bool, dict[str, Any]]]] = defaultdict(list)
    for config_row in rows:
        per_customer[config_row.customer_id].append((config_row.key, config_row.enabled, config_row.options))
    for config_row in rows:
        owner = by_id.get(config_row.customer_id)
        if owner is None or not owner.push_enabled:
            continue
        inputs.configuration_products[config_row.id] = tuple(config_row.options.get("products", ()))
        try:
            config = domain_configuration(config_row, owner.external_id)
            _rules_known(config_row.options, tenant.rules)
            quantities = _quantities(config, inputs.products, samples, inputs, start, end)
            lines = build_lines(config, inputs.products, quantities, tenant.prices, overrides, inputs.period)
        except (DomainError, ValueError) as error:
            inputs.configuration_errors.setdefault(owner.external_id, []).append(
                f"configuration {config_row.key}: {error}"
            )
            continue
        doubled = {
            product: [k for k in keys if k != config_row.key]
            for product, keys in overlaps(per_customer[config_row.customer_id]).items()
            if config_row.key in keys
        }
        if doubled:
            lines = _mark_overlap(inputs, owner.external_id, config_row.key, doubled, lines)
        for line in lines:
            inputs.lines.append(_configured(line, config_row, tenant.rules, pins))


def _mark_overlap(
    inputs: Inputs, customer: str, key: str, doubled: dict[str, list[str]], lines: list[DesiredLine]
) -> list[DesiredLine]:
    inputs.overlaps[customer] = sorted(
        {*inputs.overlaps.get(customer, []), *(f"{p}: {key}, {', '.join(k)}" for p, k in doubled.items())}
    )
    warning = Step(
        "overlap",
        "double billing (allow_overlap): "
        + "; ".join(f"{p} is also billed by configuration {', '.join(k)}" for p, k in sorted(doubled.items())),
        warning=True,
    )
    return [replace(line, explanation=line.explanation.then(warning)) for line in lines]


def _rules_known(options: dict[str, Any], rules: dict[str, tuple[str, str]]) -> None:
    """A configuration naming a rule the run's rows do not hold (saved while the run went on) waits
    for the next run: planned without it, an addition rule would not adopt what it names."""
    for option in ("agreement_rule", "addition_rule"):
        name = options.get(option)
        if name and name not in rules:
            raise DomainError(
                f"{option}: the rule {name} is not among the rules this run began with (saved since, it counts "
                "from the next run; otherwise add it)"
            )


def _configured(
    line: DesiredLine,
    config_row: BillingConfigurationRow,
    rules: dict[str, tuple[str, str]],
    pins: dict[tuple[int, str], int],
) -> ConfiguredLine:
    options = config_row.options
    return ConfiguredLine(
        line,
        config_row.id,
        rules.get(options.get("agreement_rule") or DEFAULT_AGREEMENT_RULE),
        rules.get(options["addition_rule"]) if options.get("addition_rule") else None,
        pins.get((config_row.id, "agreement")),
        pins.get((config_row.id, "addition")),
        frozenset(int(i) for i in options.get("beside") or ()),
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
