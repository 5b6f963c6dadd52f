"""Products (with their mapping to a ConnectWise catalog item) and prices (with per-customer overrides and tiers)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterbridge.domain.billing import ProductKind
from meterbridge.domain.errors import DomainError
from meterbridge.domain.pricing import Price as DomainPrice
from meterbridge.domain.pricing import Tier, TierMode
from meterbridge.domain.units import Unit
from meterbridge.domain.usage import Basis
from meterbridge.services.companies import customer_row
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.tenants import audit, tenant_row
from meterbridge.store.models import Price, Product


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
    kind: str = "license",
    unit: str = "count",
    basis: str = "last",
    cw_product: str | None = None,
    actor: str = "cli",
) -> bool:
    """Create or update a product and its mapping; True when created."""
    if not key.strip() or "/" in key:
        raise InvalidInput("key: a product needs a key without '/' (e.g. storage, server-license)")
    _choice("kind", kind, ProductKind)
    _choice("unit", unit, Unit)
    _choice("basis", basis, Basis)
    if cw_product is not None and len(cw_product) > 75:
        raise InvalidInput("cw_product: ConnectWise catalog identifiers are at most 75 characters")
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        product = session.scalar(select(Product).where(Product.tenant_id == row.id, Product.key == key))
        created = product is None
        if product is None:
            product = Product(tenant_id=row.id, key=key)
            session.add(product)
        product.name = name or product.name or key
        product.kind, product.unit, product.basis = kind, unit, basis
        product.cw_product = cw_product or None
        audit(session, ctx, row.id, actor, "product.save", {"key": key, "cw_product": cw_product})
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
    A cost may follow: ``1000:0.10:0.04``."""
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
                "unit_cost": str(decimal_of(f"tiers[{position}].unit_cost", pieces[2])) if len(pieces) == 3 else "0",
            }
        )
    return tiers


def domain_price(row: Price) -> DomainPrice:
    tiers = tuple(
        Tier(
            Decimal(str(t["up_to"])) if t.get("up_to") is not None else None,
            Decimal(str(t["unit_price"])),
            Decimal(str(t.get("unit_cost") or "0")),
        )
        for t in row.tiers or []
    )
    return DomainPrice(row.unit_price, row.unit_cost, tiers, TierMode(row.tier_mode), row.places)


def set_price(
    ctx: Context,
    tenant: str,
    product: str,
    *,
    unit_price: str | Decimal,
    unit_cost: str | Decimal = "0",
    customer: str | None = None,
    tiers: str = "",
    tier_mode: str = "graduated",
    places: int = 2,
    actor: str = "cli",
) -> None:
    """Set a product's price, or a customer's override of it."""
    price_value = decimal_of("unit_price", unit_price)
    cost_value = decimal_of("unit_cost", unit_cost)
    if price_value < 0 or cost_value < 0:
        raise InvalidInput("unit_price, unit_cost: prices cannot be negative")
    if tier_mode not in [m.value for m in TierMode]:
        raise InvalidInput(f"tier_mode: {tier_mode!r} is not graduated or volume")
    if not 0 <= places <= 8:
        raise InvalidInput("places: a price keeps 0 to 8 decimals")
    parsed_tiers = parse_tiers(tiers)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        product_id = product_row(session, row.id, product).id
        customer_id = customer_row(session, row.id, customer).id if customer else None
        price = session.scalar(select(Price).where(Price.product_id == product_id, Price.customer_id == customer_id))
        if price is None:
            price = Price(tenant_id=row.id, product_id=product_id, customer_id=customer_id)
            session.add(price)
        price.unit_price, price.unit_cost = price_value, cost_value
        price.tiers, price.tier_mode, price.places = parsed_tiers, tier_mode, places
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
            {"product": product, "customer": customer, "unit_price": str(price_value), "tiers": tiers},
        )


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
