"""Billing configurations per customer.

A configuration's options are validated as a whole (``ConfigurationOptions``) and again by the
billing core against the products (``validate_configuration``), so an error names the field
before anything is stored. Saving changes only the options given (``clear`` resets some to
their defaults; ``replace`` starts from the defaults). Two enabled configurations of a customer
that bill the same product would bill its usage twice: refused, unless one of them says
``allow_overlap`` (then the preview and the leak report show it as double billing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from meterbridge.domain.billing import validate_configuration
from meterbridge.domain.errors import DomainError
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.configuration_options import (
    OPTION_NAMES,
    ConfigurationOptions,
    check_description,
    domain_configuration,
)
from meterbridge.services.context import Context
from meterbridge.services.customers import customer_row
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.products import domain_product
from meterbridge.services.scope import tenant_row
from meterbridge.services.validation import invalid
from meterbridge.services.views import ConfigurationSaved, ConfigurationView, Deleted
from meterbridge.store.models import BillingConfigurationRow, Customer
from meterbridge.store.repos import catalog
from meterbridge.store.repos import configurations as configs


def configuration_row(session: Session, tenant_id: int, key: str) -> BillingConfigurationRow:
    config = configs.by_key(session, tenant_id, key)
    if config is None:
        raise NotFound(f"configuration {key!r} does not exist", field="configuration")
    return config


def save_configuration(
    ctx: Context,
    tenant: str,
    customer: str,
    key: str,
    options: dict[str, Any],
    *,
    actor: Actor,
    enabled: bool | None = None,
    clear: Sequence[str] = (),
    replace: bool = False,
) -> ConfigurationSaved:
    """Create a configuration, or change the options given of an existing one (``clear``: back to
    their defaults; ``replace``: everything not given back to its default). Nothing is stored
    when the result is invalid."""
    if not key.strip() or "/" in key:
        raise InvalidInput("key: a configuration needs a key without '/' (e.g. storage, licenses)", field="key")
    unknown = sorted({*options, *clear} - set(OPTION_NAMES))
    if unknown:
        raise InvalidInput(
            f"configuration {key}: unknown option(s) {', '.join(unknown)}; the options are {', '.join(OPTION_NAMES)}",
            field=unknown[0],
        )
    if "products" in clear:
        raise InvalidInput(
            f"configuration {key}: products: a configuration bills at least one product; it cannot be cleared",
            field="products",
        )
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        owner = customer_row(session, row.id, customer)
        config = configs.by_key(session, row.id, key)
        if config is not None and config.customer_id != owner.id:
            raise InvalidInput(
                f"key: configuration {key!r} belongs to another customer; keys are unique per tenant", field="key"
            )
        created = config is None
        before = None if config is None else {"enabled": config.enabled, "options": dict(config.options)}
        merged = {} if config is None or replace else dict(config.options)
        merged.update(options)
        for name in clear:
            merged.pop(name, None)
        if "products" not in merged:
            raise InvalidInput(
                f"configuration {key}: products: name the products it bills (a new configuration needs them)",
                field="products",
            )
        try:
            parsed = ConfigurationOptions.model_validate(merged)
        except ValidationError as error:
            raise invalid(error, f"configuration {key}: ") from None
        check_description(key, parsed.description)
        products = {p.key: domain_product(p) for p in catalog.products(session, row.id)}
        for rule in (parsed.agreement_rule, parsed.addition_rule):
            if rule is not None and configs.rule(session, row.id, rule) is None:
                raise InvalidInput(
                    f"configuration {key}: rule {rule!r} does not exist",
                    hint="add the rule first",
                    field="agreement_rule" if rule == parsed.agreement_rule else "addition_rule",
                    action="rules.set",
                    params={"name": rule},
                )
        if config is None:
            config = configs.add(session, row.id, owner.id, key)
        config.options = parsed.stored()
        if enabled is not None:
            config.enabled = enabled
        try:
            validate_configuration(domain_configuration(config, customer), products)
        except DomainError as error:
            raise InvalidInput(str(error), field=_field_of(str(error))) from None
        if config.enabled:
            _refuse_overlap(session, row.id, owner.id, customer, key, parsed)
        audit(
            session,
            ctx,
            row.id,
            actor,
            "configuration.create" if created else "configuration.update",
            {"customer": customer, "key": key, "enabled": config.enabled, "options": dict(config.options)},
            before=before,
        )
        return ConfigurationSaved(
            customer=customer, key=key, enabled=config.enabled, options=dict(config.options), created=created
        )


def _field_of(message: str) -> str | None:
    """The field a billing-core message names after its ``configuration KEY: `` prefix."""
    rest = message.split(": ", 2)
    return rest[1] if len(rest) > 2 and rest[1].isidentifier() else None


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
    for other in configs.enabled_of_customer(session, tenant_id, customer_id):
        if other.key == key:
            continue
        shared = sorted(set(parsed.products) & set(other.options.get("products", ())))
        if shared and not (parsed.allow_overlap or other.options.get("allow_overlap")):
            raise InvalidInput(
                f"configuration {key}: products: {', '.join(shared)} already billed by configuration {other.key} of "
                f"customer {customer}, so the same usage would be billed twice",
                hint="take it out of one of them, or set allow_overlap to bill it twice on purpose",
                field="products",
            )


def delete_configuration(ctx: Context, tenant: str, key: str, *, actor: Actor) -> Deleted:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        existing = configs.by_key(session, row.id, key)
        if existing is None:
            raise NotFound(f"configuration {key!r} does not exist", field="configuration")
        before = {"key": key, "enabled": existing.enabled, "options": dict(existing.options)}
        configs.delete_by_key(session, row.id, key)
        audit(session, ctx, row.id, actor, "configuration.delete", {"key": key}, before=before)
    return Deleted(
        what="configuration",
        key=key,
        detail=(
            "its additions stay meterbridge's: the next push hands each to the configuration that bills its product "
            "now, or retires it so it bills no month from the period pushed on (the preview says which)"
        ),
    )


def list_configurations(ctx: Context, tenant: str, customer: str | None = None) -> list[ConfigurationView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [
            ConfigurationView(customer=external, key=c.key, enabled=c.enabled, options=dict(c.options))
            for c, external in configs.named(session, row.id, customer)
        ]


def show_configuration(ctx: Context, tenant: str, key: str) -> ConfigurationView:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        config = configuration_row(session, row.id, key)
        owner = customer_of(session, config.customer_id)
        return ConfigurationView(customer=owner, key=config.key, enabled=config.enabled, options=dict(config.options))


def customer_of(session: Session, customer_id: int) -> str:
    customer = session.get(Customer, customer_id)
    assert customer is not None
    return customer.external_id
