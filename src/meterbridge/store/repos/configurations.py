"""Billing configurations, the rules they name, and pins."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from meterbridge.store.models import BillingConfigurationRow, Customer, Pin, RuleRow


def by_key(session: Session, tenant_id: int, key: str) -> BillingConfigurationRow | None:
    return session.scalar(
        select(BillingConfigurationRow).where(
            BillingConfigurationRow.tenant_id == tenant_id, BillingConfigurationRow.key == key
        )
    )


def all_of(
    session: Session, tenant_id: int, customer_ids: Collection[int] | None = None
) -> list[BillingConfigurationRow]:
    """The tenant's configurations by key (``customer_ids``: of those customers only)."""
    query = (
        select(BillingConfigurationRow)
        .where(BillingConfigurationRow.tenant_id == tenant_id)
        .order_by(BillingConfigurationRow.key)
    )
    if customer_ids is not None:
        query = query.where(BillingConfigurationRow.customer_id.in_(customer_ids))
    return list(session.scalars(query))


def named(session: Session, tenant_id: int, customer: str | None = None) -> list[tuple[BillingConfigurationRow, str]]:
    """(configuration, its customer's external id), by customer and key."""
    query = (
        select(BillingConfigurationRow, Customer.external_id)
        .join(Customer, Customer.id == BillingConfigurationRow.customer_id)
        .where(BillingConfigurationRow.tenant_id == tenant_id)
        .order_by(Customer.external_id, BillingConfigurationRow.key)
    )
    if customer is not None:
        query = query.where(Customer.external_id == customer)
    return [(row, external) for row, external in session.execute(query)]


def enabled_of_customer(session: Session, tenant_id: int, customer_id: int) -> list[BillingConfigurationRow]:
    query = select(BillingConfigurationRow).where(
        BillingConfigurationRow.tenant_id == tenant_id,
        BillingConfigurationRow.customer_id == customer_id,
        BillingConfigurationRow.enabled.is_(True),
    )
    return list(session.scalars(query))


def count(session: Session, tenant_id: int) -> int:
    query = (
        select(func.count()).select_from(BillingConfigurationRow).where(BillingConfigurationRow.tenant_id == tenant_id)
    )
    return session.scalar(query) or 0


def add(session: Session, tenant_id: int, customer_id: int, key: str) -> BillingConfigurationRow:
    row = BillingConfigurationRow(tenant_id=tenant_id, customer_id=customer_id, key=key, enabled=True, options={})
    session.add(row)
    return row


def delete_by_key(session: Session, tenant_id: int, key: str) -> bool:
    result = session.execute(
        delete(BillingConfigurationRow).where(
            BillingConfigurationRow.tenant_id == tenant_id, BillingConfigurationRow.key == key
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def rule(session: Session, tenant_id: int, name: str) -> RuleRow | None:
    return session.scalar(select(RuleRow).where(RuleRow.tenant_id == tenant_id, RuleRow.name == name))


def rules(session: Session, tenant_id: int) -> list[RuleRow]:
    return list(session.scalars(select(RuleRow).where(RuleRow.tenant_id == tenant_id).order_by(RuleRow.name)))


def pins(session: Session, tenant_id: int, customer_ids: Collection[int] | None = None) -> dict[tuple[int, str], int]:
    """(configuration id, target) -> the pinned ConnectWise id (``customer_ids``: of those customers'
    configurations only)."""
    query = select(Pin).where(Pin.tenant_id == tenant_id)
    if customer_ids is not None:
        query = query.join(BillingConfigurationRow, BillingConfigurationRow.id == Pin.configuration_id).where(
            BillingConfigurationRow.customer_id.in_(customer_ids)
        )
    return {(p.configuration_id, p.target): p.cw_id for p in session.scalars(query)}


def set_pin(
    session: Session, tenant_id: int, configuration_id: int, target: str, cw_id: int | None, *, by: str, at: datetime
) -> None:
    session.execute(delete(Pin).where(Pin.configuration_id == configuration_id, Pin.target == target))
    if cw_id is not None:
        session.add(
            Pin(
                tenant_id=tenant_id,
                configuration_id=configuration_id,
                target=target,
                cw_id=cw_id,
                pinned_by=by,
                pinned_at=at,
            )
        )
