"""Usage samples: by identity (source, customer, product, measured_at), by window, by filter."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from meterbridge.store.models import Customer, Product, UsageSampleRow


def in_window(
    session: Session, tenant_id: int, start: datetime, end: datetime, customer_ids: Collection[int] | None = None
) -> list[UsageSampleRow]:
    """Samples measured in ``[start, end)`` that count (not withdrawn); ``customer_ids``: of those only."""
    query = select(UsageSampleRow).where(
        UsageSampleRow.tenant_id == tenant_id,
        UsageSampleRow.measured_at >= start,
        UsageSampleRow.measured_at < end,
        UsageSampleRow.withdrawn_at.is_(None),
    )
    if customer_ids is not None:
        query = query.where(UsageSampleRow.customer_id.in_(customer_ids))
    return list(session.scalars(query))


def of_source(
    session: Session, tenant_id: int, source: str, first: datetime, last: datetime
) -> dict[tuple[int, int, datetime], UsageSampleRow]:
    """A source's samples measured in ``[first, last]``, by (customer id, product id, measured_at)."""
    rows = session.scalars(
        select(UsageSampleRow).where(
            UsageSampleRow.tenant_id == tenant_id,
            UsageSampleRow.source == source,
            UsageSampleRow.measured_at >= first,
            UsageSampleRow.measured_at <= last,
        )
    )
    return {(r.customer_id, r.product_id, r.measured_at): r for r in rows}


@dataclass(frozen=True)
class SampleFilter:
    customer: str | None = None
    product: str | None = None
    source: str | None = None
    at: datetime | None = None
    start: datetime | None = None  # measured in [start, end)
    end: datetime | None = None
    withdrawn: bool = False  # include withdrawn samples


def _filtered(tenant_id: int, where: SampleFilter) -> Select[UsageSampleRow, str, str]:
    query = (
        select(UsageSampleRow, Customer.external_id, Product.key)
        .join(Customer, Customer.id == UsageSampleRow.customer_id)
        .join(Product, Product.id == UsageSampleRow.product_id)
        .where(UsageSampleRow.tenant_id == tenant_id)
    )
    if where.customer is not None:
        query = query.where(Customer.external_id == where.customer)
    if where.product is not None:
        query = query.where(Product.key == where.product)
    if where.source is not None:
        query = query.where(UsageSampleRow.source == where.source)
    if where.at is not None:
        query = query.where(UsageSampleRow.measured_at == where.at)
    if where.start is not None:
        query = query.where(UsageSampleRow.measured_at >= where.start)
    if where.end is not None:
        query = query.where(UsageSampleRow.measured_at < where.end)
    if not where.withdrawn:
        query = query.where(UsageSampleRow.withdrawn_at.is_(None))
    return query


def matching(
    session: Session, tenant_id: int, where: SampleFilter, *, limit: int | None = None
) -> list[tuple[UsageSampleRow, str, str]]:
    """(sample, customer external id, product key), the newest measurement first."""
    query = _filtered(tenant_id, where).order_by(UsageSampleRow.measured_at.desc(), Customer.external_id, Product.key)
    if limit is not None:
        query = query.limit(limit)
    return [(row, customer, product) for row, customer, product in session.execute(query)]


def units_of(session: Session, tenant_id: int, product_id: int) -> set[str]:
    """The units a product's stored samples are in."""
    query = (
        select(UsageSampleRow.unit)
        .where(UsageSampleRow.tenant_id == tenant_id, UsageSampleRow.product_id == product_id)
        .distinct()
    )
    return set(session.scalars(query))


def newest_measurement(session: Session, tenant_id: int) -> datetime | None:
    """When the newest sample still counted was measured (None: the tenant has no usage)."""
    return session.scalar(
        select(func.max(UsageSampleRow.measured_at)).where(
            UsageSampleRow.tenant_id == tenant_id, UsageSampleRow.withdrawn_at.is_(None)
        )
    )


def quantities(
    session: Session, tenant_id: int, product_id: int, start: datetime, end: datetime
) -> list[tuple[datetime, int, Decimal]]:
    """(measured_at, customer id, quantity) of a product's samples measured in ``[start, end)`` that count."""
    query = select(UsageSampleRow.measured_at, UsageSampleRow.customer_id, UsageSampleRow.quantity).where(
        UsageSampleRow.tenant_id == tenant_id,
        UsageSampleRow.product_id == product_id,
        UsageSampleRow.measured_at >= start,
        UsageSampleRow.measured_at < end,
        UsageSampleRow.withdrawn_at.is_(None),
    )
    return [(at, customer, quantity) for at, customer, quantity in session.execute(query)]
