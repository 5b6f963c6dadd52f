"""Customers: the owners of usage, with their Managed ID and whether their billing is pushed."""

from __future__ import annotations

from sqlalchemy.orm import Session

from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import CustomerSaved, CustomerView
from meterbridge.store.models import Customer, Link
from meterbridge.store.repos import customers


def customer_row(session: Session, tenant_id: int, external_id: str) -> Customer:
    customer = customers.by_external_id(session, tenant_id, external_id)
    if customer is None:
        raise NotFound(
            f"customer {external_id!r} does not exist",
            hint="add it, or import usage that names it with its name",
            field="customer",
        )
    return customer


def _snapshot(customer: Customer) -> dict[str, object]:
    return {
        "external_id": customer.external_id,
        "name": customer.name,
        "managed_id": customer.managed_id,
        "push_enabled": customer.push_enabled,
    }


def _view(customer: Customer, link: Link | None, configurations: int) -> CustomerView:
    return CustomerView(
        external_id=customer.external_id,
        name=customer.name,
        managed_id=customer.managed_id,
        push_enabled=customer.push_enabled,
        cw_id=link.cw_company_id if link else None,
        cw_identifier=link.cw_identifier if link else None,
        how=link.how if link else "",
        configurations=configurations,
        source=customer.source,
        missing_since=customer.missing_since,
    )


def add_customer(
    ctx: Context,
    tenant: str,
    external_id: str,
    name: str | None = None,
    *,
    actor: Actor,
    managed_id: str | None = None,
    push_enabled: bool | None = None,
) -> CustomerSaved:
    """Create a customer, or change what is given of an existing one (None keeps the stored value;
    ``managed_id=""`` removes it)."""
    if not external_id.strip():
        raise InvalidInput("external_id: a customer needs the id the usage source knows it by", field="external_id")
    if "/" in external_id:
        raise InvalidInput(f"external_id: {external_id!r} may not contain '/'", field="external_id")
    if managed_id is not None and managed_id and not managed_id.isdigit():
        raise InvalidInput(
            f"managed_id: {managed_id!r} must contain only digits (ConnectWise's Managed ID)", field="managed_id"
        )
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customer = customers.by_external_id(session, row.id, external_id)
        created = customer is None
        before = None if customer is None else _snapshot(customer)
        if customer is None:
            if not name or not name.strip():
                raise InvalidInput(f"name: customer {external_id} is new: give its name", field="name")
            customer = customers.add(session, row.id, external_id, name)
        if name is not None:
            if not name.strip():
                raise InvalidInput("name: a customer's name cannot be empty", field="name")
            customer.name = name
        if managed_id is not None:
            customer.managed_id = managed_id or None
        if push_enabled is not None:
            customer.push_enabled = push_enabled
        audit(
            session,
            ctx,
            row.id,
            actor,
            "customer.create" if created else "customer.update",
            _snapshot(customer),
            before=before,
        )
        counts = customers.configuration_counts(session, row.id)
        view = _view(customer, customers.link_of(session, customer.id), counts.get(customer.id, 0))
        return CustomerSaved(**view.model_dump(), created=created)


def list_customers(ctx: Context, tenant: str) -> list[CustomerView]:
    """Every customer with its link, Managed ID, push flag and number of billing configurations."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        counts = customers.configuration_counts(session, row.id)
        return [
            _view(customer, link, counts.get(customer.id, 0))
            for customer, link in customers.with_links(session, row.id)
        ]


def show_customer(ctx: Context, tenant: str, external_id: str) -> CustomerView:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        customer = customer_row(session, row.id, external_id)
        counts = customers.configuration_counts(session, row.id)
        return _view(customer, customers.link_of(session, customer.id), counts.get(customer.id, 0))


def require_customers(ctx: Context, tenant_id: int, names: frozenset[str] | None) -> None:
    """Every customer named (a preview's or push's scope) exists; else NotFound names the others."""
    if not names:
        return
    with ctx.db.session() as session:
        known = {c.external_id for c in customers.all_of(session, tenant_id)}
    unknown = sorted(names - known)
    if unknown:
        raise NotFound(f"customer(s) {', '.join(unknown)} do not exist", hint="check the names", field="customer")
