"""Customers, their links to ConnectWise companies, and the cache of ConnectWise companies."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from meterbridge.store.models import BillingConfigurationRow, Customer, CWCompany, Link


def by_external_id(session: Session, tenant_id: int, external_id: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.tenant_id == tenant_id, Customer.external_id == external_id))


def all_of(session: Session, tenant_id: int, external_ids: Collection[str] | None = None) -> list[Customer]:
    """The tenant's customers (``external_ids``: only those), by external id."""
    query = select(Customer).where(Customer.tenant_id == tenant_id).order_by(Customer.external_id)
    if external_ids is not None:
        query = query.where(Customer.external_id.in_(external_ids))
    return list(session.scalars(query))


def external_ids(session: Session, tenant_id: int) -> list[str]:
    """The external id of every customer of the tenant (a light read of a big tenant)."""
    return list(session.scalars(select(Customer.external_id).where(Customer.tenant_id == tenant_id)))


def add(session: Session, tenant_id: int, external_id: str, name: str) -> Customer:
    customer = Customer(tenant_id=tenant_id, external_id=external_id, name=name, push_enabled=True)
    session.add(customer)
    session.flush()
    return customer


def links_of(session: Session, tenant_id: int, customer_ids: Collection[int] | None = None) -> dict[int, Link]:
    """Customer id -> its link (a customer never linked has none); ``customer_ids``: of those only."""
    query = select(Link).join(Customer, Customer.id == Link.customer_id).where(Customer.tenant_id == tenant_id)
    if customer_ids is not None:
        query = query.where(Link.customer_id.in_(customer_ids))
    return {link.customer_id: link for link in session.scalars(query)}


def link_of(session: Session, customer_id: int) -> Link | None:
    return session.get(Link, customer_id)


def set_link(
    session: Session, customer_id: int, *, cw_id: int | None, identifier: str | None, how: str, at: datetime
) -> Link:
    link = session.get(Link, customer_id)
    if link is None:
        link = Link(customer_id=customer_id)
        session.add(link)
    link.cw_company_id, link.cw_identifier, link.how, link.linked_at = cw_id, identifier, how, at
    return link


def with_links(session: Session, tenant_id: int) -> list[tuple[Customer, Link | None]]:
    query = (
        select(Customer, Link)
        .outerjoin(Link, Link.customer_id == Customer.id)
        .where(Customer.tenant_id == tenant_id)
        .order_by(Customer.external_id)
    )
    return [(customer, link) for customer, link in session.execute(query)]


def configuration_counts(session: Session, tenant_id: int) -> dict[int, int]:
    """Customer id -> how many billing configurations it has."""
    query = (
        select(BillingConfigurationRow.customer_id, func.count())
        .where(BillingConfigurationRow.tenant_id == tenant_id)
        .group_by(BillingConfigurationRow.customer_id)
    )
    return {customer_id: count for customer_id, count in session.execute(query)}


def companies(
    session: Session, tenant_id: int, *, search: str | None = None, limit: int | None = None
) -> list[CWCompany]:
    """The imported companies by id; ``search``: identifier or name contains it (any case)."""
    query = select(CWCompany).where(CWCompany.tenant_id == tenant_id)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(func.lower(CWCompany.identifier).like(pattern) | func.lower(CWCompany.name).like(pattern))
    query = query.order_by(CWCompany.cw_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def company(
    session: Session, tenant_id: int, *, cw_id: int | None = None, identifier: str | None = None
) -> CWCompany | None:
    query = select(CWCompany).where(CWCompany.tenant_id == tenant_id)
    query = (
        query.where(CWCompany.cw_id == cw_id) if cw_id is not None else query.where(CWCompany.identifier == identifier)
    )
    return session.scalar(query)


def replace_companies(session: Session, tenant_id: int, rows: Iterable[tuple[int, str, str]], at: datetime) -> None:
    """The cache of ConnectWise companies becomes ``rows`` (id, identifier, name)."""
    session.execute(delete(CWCompany).where(CWCompany.tenant_id == tenant_id))
    session.add_all(
        CWCompany(tenant_id=tenant_id, cw_id=cw_id, identifier=identifier, name=name, fetched_at=at)
        for cw_id, identifier, name in rows
    )


def companies_version(session: Session, tenant_id: int) -> tuple[int, datetime | None]:
    """(how many companies, when the newest was fetched): changes with every import."""
    count, newest = session.execute(
        select(func.count(), func.max(CWCompany.fetched_at)).where(CWCompany.tenant_id == tenant_id)
    ).one()
    return int(count), newest
