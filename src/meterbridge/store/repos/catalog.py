"""Products and prices (a product's price list, and per-customer overrides)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from meterbridge.store.models import Customer, Price, Product


def product(session: Session, tenant_id: int, key: str) -> Product | None:
    return session.scalar(select(Product).where(Product.tenant_id == tenant_id, Product.key == key))


def products(session: Session, tenant_id: int) -> list[Product]:
    return list(session.scalars(select(Product).where(Product.tenant_id == tenant_id).order_by(Product.key)))


def count_products(session: Session, tenant_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Product).where(Product.tenant_id == tenant_id)) or 0


def price(session: Session, product_id: int, customer_id: int | None) -> Price | None:
    """The product's price list (``customer_id`` None) or one customer's override."""
    return session.scalar(select(Price).where(Price.product_id == product_id, Price.customer_id == customer_id))


def prices(session: Session, tenant_id: int, customer_ids: Collection[int] | None = None) -> list[Price]:
    """Price lists and customers' prices (``customer_ids``: the price lists and those customers' own)."""
    query = select(Price).where(Price.tenant_id == tenant_id)
    if customer_ids is not None:
        query = query.where(or_(Price.customer_id.is_(None), Price.customer_id.in_(customer_ids)))
    return list(session.scalars(query))


def prices_named(session: Session, tenant_id: int, product: str | None = None) -> list[tuple[Price, str, str | None]]:
    """(price, product key, customer external id or None), each product's price list first."""
    query = (
        select(Price, Product.key, Customer.external_id)
        .join(Product, Product.id == Price.product_id)
        .outerjoin(Customer, Customer.id == Price.customer_id)
        .where(Price.tenant_id == tenant_id)
        .order_by(Product.key, Customer.external_id.is_not(None), Customer.external_id)
    )
    if product is not None:
        query = query.where(Product.key == product)
    return [(row, key, external) for row, key, external in session.execute(query)]
