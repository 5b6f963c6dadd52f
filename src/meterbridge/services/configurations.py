"""Billing configurations per customer, agreement and addition rules, and pins.

A configuration's options are validated as a whole (``ConfigurationOptions``) and again by the
billing core against the products (``validate_configuration``), so an error names the field
before anything is stored. Saving changes only the options given (``clear`` resets some to
their defaults; ``replace`` starts from the defaults). Two enabled configurations of a customer
that bill the same product would bill its usage twice: refused, unless one of them says
``allow_overlap`` (then the preview and the leak report show it as double billing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from meterbridge.domain.billing import (
    BillingConfiguration,
    BillMode,
    DataMode,
    ProductKind,
    Strategy,
    ZeroPolicy,
    validate_configuration,
)
from meterbridge.domain.billing import Product as DomainProduct
from meterbridge.domain.description import DescriptionTemplate
from meterbridge.domain.errors import DomainError
from meterbridge.domain.policies import BillStartPolicy, InvoicedPolicy
from meterbridge.domain.pricing import Range
from meterbridge.domain.rules import ADDITION_FIELDS, AGREEMENT_FIELDS, Rule, RuleError
from meterbridge.domain.units import Unit
from meterbridge.domain.usage import Basis
from meterbridge.services.companies import customer_row
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.tenants import audit, tenant_row
from meterbridge.store.models import BillingConfigurationRow, Customer, Pin, Product, RuleRow

DEFAULT_AGREEMENT_RULE = "default-agreement"


@dataclass(frozen=True)
class ConfigurationView:
    customer: str
    key: str
    enabled: bool
    options: dict[str, Any]


class RangeOption(BaseModel):
    """A GB range; a price or cost left out comes from the product's price list."""

    model_config = ConfigDict(extra="forbid")
    up_to: Decimal | None = Field(default=None, gt=0)
    cw_product: str = Field(min_length=1, max_length=75)
    unit_price: Decimal | None = Field(default=None, ge=0)
    unit_cost: Decimal | None = Field(default=None, ge=0)


class ConfigurationOptions(BaseModel):
    """What a configuration holds (JSON in the store); names match the billing core's."""

    model_config = ConfigDict(extra="forbid")

    products: list[str] = Field(min_length=1)
    cw_product: str | None = Field(default=None, max_length=75)
    ranges: list[RangeOption] = Field(default_factory=list)
    bill_mode: BillMode = BillMode.BILLABLE
    data_mode: DataMode = DataMode.AVERAGE
    block_size: Decimal | None = None
    included: Decimal = Field(default=Decimal(0), ge=0, decimal_places=2)
    zero_policy: ZeroPolicy = ZeroPolicy.ZERO
    strategy: Strategy = Strategy.RUNNING
    description: str | None = Field(default=None, max_length=6000)  # a template; None: ConnectWise's
    agreement_rule: str | None = None  # a rule's name; None: the tenant's "default-agreement" rule
    addition_rule: str | None = None  # a rule's name: adopt an existing addition it picks
    bill_start_policy: BillStartPolicy | None = None  # None: the tenant's
    invoiced_policy: InvoicedPolicy | None = None  # None: the tenant's
    allow_overlap: bool = False  # bill a product another configuration of the customer bills too


OPTION_NAMES = tuple(ConfigurationOptions.model_fields)


def domain_product(row: Product) -> DomainProduct:
    return DomainProduct(row.key, row.name, ProductKind(row.kind), Unit(row.unit), Basis(row.basis), row.cw_product)


def domain_configuration(row: BillingConfigurationRow, customer: str) -> BillingConfiguration:
    options = ConfigurationOptions.model_validate(row.options)
    return BillingConfiguration(
        key=row.key,
        customer=customer,
        products=tuple(options.products),
        cw_product=options.cw_product,
        ranges=tuple(Range(r.up_to, r.cw_product, r.unit_price, r.unit_cost) for r in options.ranges),
        bill_mode=options.bill_mode,
        data_mode=options.data_mode,
        block_size=options.block_size,
        included=options.included,
        zero_policy=options.zero_policy,
        strategy=options.strategy,
        description=DescriptionTemplate(options.description) if options.description else None,
        agreement_rule=options.agreement_rule,
        enabled=row.enabled,
        bill_start_policy=options.bill_start_policy,
        invoiced_policy=options.invoiced_policy,
    )


def save_configuration(
    ctx: Context,
    tenant: str,
    customer: str,
    key: str,
    options: dict[str, Any],
    *,
    enabled: bool | None = None,
    clear: Sequence[str] = (),
    replace: bool = False,
    actor: str = "cli",
) -> tuple[bool, ConfigurationView]:
    """Create a configuration, or change the options given of an existing one (``clear``: back to
    their defaults; ``replace``: everything not given back to its default). Returns (created, the
    configuration as saved). Nothing is stored when the result is invalid."""
    if not key.strip() or "/" in key:
        raise InvalidInput("key: a configuration needs a key without '/' (e.g. storage, licenses)")
    unknown = sorted({*options, *clear} - set(OPTION_NAMES))
    if unknown:
        raise InvalidInput(
            f"configuration {key}: unknown option(s) {', '.join(unknown)}; the options are {', '.join(OPTION_NAMES)}"
        )
    if "products" in clear:
        raise InvalidInput(
            f"configuration {key}: products: a configuration bills at least one product; it cannot be cleared"
        )
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        owner = customer_row(session, row.id, customer)
        config = session.scalar(
            select(BillingConfigurationRow).where(
                BillingConfigurationRow.tenant_id == row.id, BillingConfigurationRow.key == key
            )
        )
        if config is not None and config.customer_id != owner.id:
            raise InvalidInput(f"key: configuration {key!r} belongs to another customer; keys are unique per tenant")
        created = config is None
        merged = {} if created or replace else dict(config.options)  # type: ignore[union-attr]
        merged.update(options)
        for name in clear:
            merged.pop(name, None)
        if "products" not in merged:
            raise InvalidInput(
                f"configuration {key}: products: name the products it bills (a new configuration needs them)"
            )
        try:
            parsed = ConfigurationOptions.model_validate(merged)
        except ValidationError as error:
            raise InvalidInput(describe_options(key, error)) from None
        products = {
            p.key: domain_product(p) for p in session.scalars(select(Product).where(Product.tenant_id == row.id))
        }
        for rule in (parsed.agreement_rule, parsed.addition_rule):
            if (
                rule is not None
                and session.scalar(select(RuleRow).where(RuleRow.tenant_id == row.id, RuleRow.name == rule)) is None
            ):
                raise InvalidInput(
                    f"configuration {key}: rule {rule!r} does not exist: add it with `meterbridge rules set`"
                )
        if config is None:
            config = BillingConfigurationRow(tenant_id=row.id, customer_id=owner.id, key=key, enabled=True)
            session.add(config)
        config.options = parsed.model_dump(mode="json", exclude_defaults=True)
        config.options["products"] = parsed.products
        if enabled is not None:
            config.enabled = enabled
        elif created:
            config.enabled = True
        try:
            validate_configuration(domain_configuration(config, customer), products)
        except DomainError as error:
            raise InvalidInput(str(error)) from None
        if config.enabled:
            _refuse_overlap(session, row.id, owner.id, customer, key, parsed)
        audit(
            session,
            ctx,
            row.id,
            actor,
            "configuration.create" if created else "configuration.update",
            {"customer": customer, "key": key, "enabled": config.enabled, **config.options},
        )
        return created, ConfigurationView(customer, key, config.enabled, dict(config.options))


def overlaps(configurations: Sequence[tuple[str, bool, dict[str, Any]]]) -> dict[str, list[str]]:
    """Product -> the keys of the enabled configurations (of one customer) that bill it, where more than one does."""
    billing: dict[str, list[str]] = {}
    for key, enabled, options in configurations:
        if enabled:
            for product in options.get("products", ()):
                billing.setdefault(product, []).append(key)
    return {product: keys for product, keys in billing.items() if len(keys) > 1}


def _refuse_overlap(
    session: Session, tenant_id: int, customer_id: int, customer: str, key: str, parsed: ConfigurationOptions
) -> None:
    others = session.scalars(
        select(BillingConfigurationRow).where(
            BillingConfigurationRow.tenant_id == tenant_id,
            BillingConfigurationRow.customer_id == customer_id,
            BillingConfigurationRow.key != key,
            BillingConfigurationRow.enabled.is_(True),
        )
    )
    for other in others:
        shared = sorted(set(parsed.products) & set(other.options.get("products", ())))
        if shared and not (parsed.allow_overlap or other.options.get("allow_overlap")):
            raise InvalidInput(
                f"configuration {key}: products: {', '.join(shared)} already billed by configuration {other.key} of "
                f"customer {customer}, so the same usage would be billed twice: take it out of one of them, or set "
                "allow_overlap to bill it twice on purpose"
            )


def describe_options(key: str, error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        parts.append(f"configuration {key}: {where}: {item['msg']}")
    return "; ".join(parts)


def delete_configuration(ctx: Context, tenant: str, key: str, *, actor: str = "cli") -> None:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        result = session.execute(
            delete(BillingConfigurationRow).where(
                BillingConfigurationRow.tenant_id == row.id, BillingConfigurationRow.key == key
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(f"configuration {key!r} does not exist")
        audit(session, ctx, row.id, actor, "configuration.delete", {"key": key})


def list_configurations(ctx: Context, tenant: str, customer: str | None = None) -> list[ConfigurationView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        query = (
            select(BillingConfigurationRow, Customer.external_id)
            .join(Customer, Customer.id == BillingConfigurationRow.customer_id)
            .where(BillingConfigurationRow.tenant_id == row.id)
            .order_by(Customer.external_id, BillingConfigurationRow.key)
        )
        if customer is not None:
            query = query.where(Customer.external_id == customer)
        return [
            ConfigurationView(external, c.key, c.enabled, dict(c.options)) for c, external in session.execute(query)
        ]


def compile_rule(text: str, target: str) -> Rule:
    if target not in ("agreement", "addition"):
        raise InvalidInput(f"target: {target!r} is not agreement or addition")
    try:
        return Rule.compile(text, AGREEMENT_FIELDS if target == "agreement" else ADDITION_FIELDS)
    except RuleError as error:
        raise InvalidInput(f"rule: {error}") from None


def save_rule(
    ctx: Context, tenant: str, name: str, text: str, *, target: str = "agreement", actor: str = "cli"
) -> None:
    compile_rule(text, target)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        rule = session.scalar(select(RuleRow).where(RuleRow.tenant_id == row.id, RuleRow.name == name))
        if rule is None:
            rule = RuleRow(tenant_id=row.id, name=name)
            session.add(rule)
        rule.target, rule.text = target, text
        audit(session, ctx, row.id, actor, "rule.save", {"name": name, "target": target, "text": text})


def list_rules(ctx: Context, tenant: str) -> list[tuple[str, str, str]]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        rules = session.scalars(select(RuleRow).where(RuleRow.tenant_id == row.id).order_by(RuleRow.name))
        return [(r.name, r.target, r.text) for r in rules]


def configuration_row(session: Session, tenant_id: int, key: str) -> BillingConfigurationRow:
    config = session.scalar(
        select(BillingConfigurationRow).where(
            BillingConfigurationRow.tenant_id == tenant_id, BillingConfigurationRow.key == key
        )
    )
    if config is None:
        raise NotFound(f"configuration {key!r} does not exist")
    return config


def pin(
    ctx: Context,
    tenant: str,
    configuration: str,
    cw_id: int | None,
    *,
    target: Literal["agreement", "addition"] = "agreement",
    actor: str = "cli",
) -> None:
    """Pin the agreement (or the addition to adopt) for a configuration by hand; None removes the pin."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        config = configuration_row(session, row.id, configuration)
        session.execute(delete(Pin).where(Pin.configuration_id == config.id, Pin.target == target))
        if cw_id is not None:
            session.add(
                Pin(
                    tenant_id=row.id,
                    configuration_id=config.id,
                    target=target,
                    cw_id=cw_id,
                    pinned_by=actor,
                    pinned_at=ctx.clock(),
                )
            )
        audit(session, ctx, row.id, actor, "pin.set", {"configuration": configuration, "target": target, "id": cw_id})
