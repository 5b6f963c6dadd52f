"""Products (with their mapping to a ConnectWise catalog item) and prices (with per-customer overrides and tiers)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterbridge.domain.billing import ProductKind
from meterbridge.domain.errors import DomainError
from meterbridge.domain.money import PRICE_PLACES, decimals
from meterbridge.domain.pricing import Price as DomainPrice
from meterbridge.domain.pricing import Tier, TierMode
from meterbridge.domain.units import Unit
from meterbridge.domain.usage import Basis
from meterbridge.services.companies import customer_row
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.tenants import audit, tenant_row
from meterbridge.store.models import Customer, Price, Product


def _choice(field: str, value: str, allowed: type[ProductKind] | type[Unit] | type[Basis]) -> str:
    options = [member.value for member in allowed]
    if value not in options:
        raise InvalidInput(f"{field}: {value!r} is not one of {', '.join(options)}")
    return value


def save_product(
    ctx: Context,
    tenant: str,
    key: str,
    *,
    name: str | None = None,
    kind: str | None = None,
    unit: str | None = None,
    basis: str | None = None,
    cw_product: str | None = None,
    actor: str = "cli",
) -> bool:
    """Create a product (kind license, unit count, basis last unless given), or change what is
    given of an existing one; ``cw_product=""`` removes its mapping. True when created."""
    if not key.strip() or "/" in key:
        raise InvalidInput("key: a product needs a key without '/' (e.g. storage, server-license)")
    for field, value, allowed in (("kind", kind, ProductKind), ("unit", unit, Unit), ("basis", basis, Basis)):
        if value is not None:
            _choice(field, value, allowed)
    if cw_product is not None and len(cw_product) > 75:
        raise InvalidInput("cw_product: ConnectWise catalog identifiers are at most 75 characters")
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        product = session.scalar(select(Product).where(Product.tenant_id == row.id, Product.key == key))
        created = product is None
        if product is None:
            product = Product(tenant_id=row.id, key=key, kind="license", unit="count", basis="last")
            session.add(product)
        product.name = name or product.name or key
        product.kind = kind or product.kind
        product.unit = unit or product.unit
        product.basis = basis or product.basis
        if cw_product is not None:
            product.cw_product = cw_product or None
        audit(
            session,
            ctx,
            row.id,
            actor,
            "product.create" if created else "product.update",
            {
                "key": key,
                "kind": product.kind,
                "unit": product.unit,
                "basis": product.basis,
                "cw_product": product.cw_product,
            },
        )
        return created


def product_row(session: Session, tenant_id: int, key: str) -> Product:
    product = session.scalar(select(Product).where(Product.tenant_id == tenant_id, Product.key == key))
    if product is None:
        raise NotFound(f"product {key!r} does not exist: add it with `meterbridge products set {key} ...`")
    return product


def decimal_of(field: str, text: str | Decimal) -> Decimal:
    try:
        value = text if isinstance(text, Decimal) else Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidInput(f"{field}: {text!r} is not a number (use a decimal point, e.g. 0.12)") from None
    if not value.is_finite():
        raise InvalidInput(f"{field}: {text!r} is not a finite number")
    return value


def parse_tiers(text: str) -> list[dict[str, str | None]]:
    """``"1000:0.10,5000:0.08,:0.05"``: up to 1000 units at 0.10, to 5000 at 0.08, the rest at 0.05.
    A cost may follow: ``1000:0.10:0.04``; a tier without one takes the price's unit cost."""
    tiers: list[dict[str, str | None]] = []
    for position, part in enumerate(filter(None, (p.strip() for p in text.split(","))), start=1):
        pieces = part.split(":")
        if len(pieces) not in (2, 3):
            raise InvalidInput(f"tiers: tier {position} ({part!r}) must be up_to:price or up_to:price:cost")
        up_to = str(decimal_of(f"tiers[{position}].up_to", pieces[0])) if pieces[0] else None
        tiers.append(
            {
                "up_to": up_to,
                "unit_price": str(decimal_of(f"tiers[{position}].unit_price", pieces[1])),
                "unit_cost": (
                    str(decimal_of(f"tiers[{position}].unit_cost", pieces[2]))
                    if len(pieces) == 3 and pieces[2]
                    else None
                ),
            }
        )
    return tiers


def format_tiers(tiers: list[dict[str, str | None]]) -> str:
    """Tiers as ``parse_tiers`` reads them."""
    parts = []
    for tier in tiers:
        pieces = [tier.get("up_to") or "", tier.get("unit_price") or "0"]
        if tier.get("unit_cost") is not None:
            pieces.append(str(tier["unit_cost"]))
        parts.append(":".join(pieces))
    return ",".join(parts)


def domain_price(row: Price) -> DomainPrice:
    tiers = tuple(
        Tier(
            Decimal(str(t["up_to"])) if t.get("up_to") is not None else None,
            Decimal(str(t["unit_price"])),
            Decimal(str(t["unit_cost"])) if t.get("unit_cost") is not None else None,
        )
        for t in row.tiers or []
    )
    return DomainPrice(row.unit_price, row.unit_cost, tiers, TierMode(row.tier_mode), row.places)


@dataclass(frozen=True)
class PriceView:
    product: str
    customer: str | None  # None: the product's price list; else this customer's override
    unit_price: Decimal
    unit_cost: Decimal
    tiers: list[dict[str, str | None]]
    tier_mode: str
    places: int


def _view(row: Price, product: str, customer: str | None) -> PriceView:
    return PriceView(product, customer, row.unit_price, row.unit_cost, list(row.tiers or []), row.tier_mode, row.places)


def _check_places(price: Price) -> None:
    values = [("unit_price", price.unit_price), ("unit_cost", price.unit_cost)]
    for position, tier in enumerate(price.tiers or [], start=1):
        values.append((f"tiers[{position}].unit_price", Decimal(str(tier["unit_price"]))))
        if tier.get("unit_cost") is not None:
            values.append((f"tiers[{position}].unit_cost", Decimal(str(tier["unit_cost"]))))
    for name, value in values:
        if value < 0:
            raise InvalidInput(f"{name}: prices and costs cannot be negative")
        if decimals(value) > price.places:
            raise InvalidInput(
                f"{name}: {value} has {decimals(value)} decimals but this price keeps {price.places}: set --places "
                f"{decimals(value)} (up to {PRICE_PLACES}), or round it yourself"
            )


def set_price(
    ctx: Context,
    tenant: str,
    product: str,
    *,
    unit_price: str | Decimal | None = None,
    unit_cost: str | Decimal | None = None,
    customer: str | None = None,
    tiers: str | None = None,
    tier_mode: str | None = None,
    places: int | None = None,
    actor: str = "cli",
) -> PriceView:
    """Set a product's price, or a customer's override of it. Only the values given change: an
    existing price keeps the others (a new override starts from the product's price); ``tiers=""``
    removes the tiers."""
    price_value = decimal_of("unit_price", unit_price) if unit_price is not None else None
    cost_value = decimal_of("unit_cost", unit_cost) if unit_cost is not None else None
    if tier_mode is not None and tier_mode not in [m.value for m in TierMode]:
        raise InvalidInput(f"tier_mode: {tier_mode!r} is not graduated or volume")
    if places is not None and not 0 <= places <= PRICE_PLACES:
        raise InvalidInput(f"places: a price keeps 0 to {PRICE_PLACES} decimals")
    parsed_tiers = parse_tiers(tiers) if tiers is not None else None
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        product_id = product_row(session, row.id, product).id
        customer_id = customer_row(session, row.id, customer).id if customer else None
        price = session.scalar(select(Price).where(Price.product_id == product_id, Price.customer_id == customer_id))
        if price is None:
            base = None
            if customer_id is not None:
                base = session.scalar(select(Price).where(Price.product_id == product_id, Price.customer_id.is_(None)))
            if price_value is None and not parsed_tiers and base is None:
                raise InvalidInput(f"unit_price: {product} has no price yet: give a price (or tiers)")
            price = Price(
                tenant_id=row.id,
                product_id=product_id,
                customer_id=customer_id,
                unit_price=base.unit_price if base else Decimal(0),
                unit_cost=base.unit_cost if base else Decimal(0),
                tiers=list(base.tiers) if base else [],
                tier_mode=base.tier_mode if base else TierMode.GRADUATED.value,
                places=base.places if base else 2,
            )
            session.add(price)
        if price_value is not None:
            price.unit_price = price_value
        if cost_value is not None:
            price.unit_cost = cost_value
        if parsed_tiers is not None:
            price.tiers = parsed_tiers
        if tier_mode is not None:
            if not price.tiers:
                raise InvalidInput(
                    f"tier_mode: {tier_mode} applies to tiers, and this price has none: give --tiers too"
                )
            price.tier_mode = tier_mode
        if places is not None:
            price.places = places
        _check_places(price)
        try:
            domain_price(price)
        except DomainError as error:
            raise InvalidInput(str(error)) from None
        audit(
            session,
            ctx,
            row.id,
            actor,
            "price.set",
            {
                "product": product,
                "customer": customer,
                "unit_price": str(price.unit_price),
                "unit_cost": str(price.unit_cost),
                "tiers": format_tiers(price.tiers),
                "tier_mode": price.tier_mode,
                "places": price.places,
            },
        )
        return _view(price, product, customer)


def delete_price(ctx: Context, tenant: str, product: str, *, customer: str | None = None, actor: str = "cli") -> None:
    """Remove a customer's override (the price list applies again), or the product's price (0, flagged)."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        product_id = product_row(session, row.id, product).id
        customer_id = customer_row(session, row.id, customer).id if customer else None
        price = session.scalar(select(Price).where(Price.product_id == product_id, Price.customer_id == customer_id))
        if price is None:
            whose = f"no override for customer {customer}" if customer else "no price"
            raise NotFound(f"{product} has {whose}: `meterbridge prices list` shows the prices")
        session.delete(price)
        audit(session, ctx, row.id, actor, "price.delete", {"product": product, "customer": customer})


def list_prices(ctx: Context, tenant: str, *, product: str | None = None) -> list[PriceView]:
    """Every price: each product's, then its customers' overrides."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        query = (
            select(Price, Product.key, Customer.external_id)
            .join(Product, Product.id == Price.product_id)
            .outerjoin(Customer, Customer.id == Price.customer_id)
            .where(Price.tenant_id == row.id)
            .order_by(Product.key, Customer.external_id.is_not(None), Customer.external_id)
        )
        if product is not None:
            product_row(session, row.id, product)
            query = query.where(Product.key == product)
        return [_view(price, key, external) for price, key, external in session.execute(query)]


@dataclass(frozen=True)
class ProductView:
    key: str
    name: str
    kind: str
    unit: str
    basis: str
    cw_product: str | None
    unit_price: Decimal | None
    unit_cost: Decimal | None
    tiers: list[dict[str, str | None]]
    overrides: int


def list_products(ctx: Context, tenant: str) -> list[ProductView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        prices = list(session.scalars(select(Price).where(Price.tenant_id == row.id)))
        views = []
        for product in session.scalars(select(Product).where(Product.tenant_id == row.id).order_by(Product.key)):
            base = next((p for p in prices if p.product_id == product.id and p.customer_id is None), None)
            views.append(
                ProductView(
                    product.key,
                    product.name,
                    product.kind,
                    product.unit,
                    product.basis,
                    product.cw_product,
                    base.unit_price if base else None,
                    base.unit_cost if base else None,
                    list(base.tiers) if base else [],
                    sum(1 for p in prices if p.product_id == product.id and p.customer_id is not None),
                )
            )
        return views
