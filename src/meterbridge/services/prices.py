"""Prices: a product's price list and per-customer overrides, with tiers and the decimals each keeps."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from meterbridge.domain.errors import DomainError
from meterbridge.domain.money import PRICE_PLACES, decimals
from meterbridge.domain.pricing import Price as DomainPrice
from meterbridge.domain.pricing import Tier, TierMode
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.customers import customer_row
from meterbridge.services.errors import InvalidInput, NotFound
from meterbridge.services.products import product_row
from meterbridge.services.scope import tenant_row
from meterbridge.services.tiers import decimal_of, parse_tiers, tier_views
from meterbridge.services.views import Deleted, PriceView
from meterbridge.store.models import Price
from meterbridge.store.repos import catalog


def domain_price(row: Price) -> DomainPrice:
    tiers = tuple(Tier(t.up_to, t.unit_price, t.unit_cost) for t in tier_views(row.tiers))
    return DomainPrice(row.unit_price, row.unit_cost, tiers, TierMode(row.tier_mode), row.places)


def _view(row: Price, product: str, customer: str | None) -> PriceView:
    return PriceView(
        product=product,
        customer=customer,
        unit_price=row.unit_price,
        unit_cost=row.unit_cost,
        tiers=tier_views(row.tiers),
        tier_mode=row.tier_mode,
        places=row.places,
    )


def _check_places(price: Price) -> None:
    values = [("unit_price", price.unit_price), ("unit_cost", price.unit_cost)]
    for position, tier in enumerate(price.tiers or [], start=1):
        values.append((f"tiers[{position}].unit_price", Decimal(str(tier["unit_price"]))))
        if tier.get("unit_cost") is not None:
            values.append((f"tiers[{position}].unit_cost", Decimal(str(tier["unit_cost"]))))
    for name, value in values:
        if value < 0:
            raise InvalidInput(f"{name}: prices and costs cannot be negative", field=name)
        if value > MAX_PRICE:
            raise InvalidInput(f"{name}: {value} is more than a unit can cost (at most {MAX_PRICE})", field=name)
        if decimals(value) > price.places:
            raise InvalidInput(
                f"{name}: {value} has {decimals(value)} decimals but this price keeps {price.places}",
                hint=f"set places to {decimals(value)} (up to {PRICE_PLACES}), or round it yourself",
                field=name,
                action="prices.places",
                params={"places": str(decimals(value))},
            )


MAX_PRICE = Decimal(10**9)


def _price_of(
    session: Session, tenant_id: int, product: str, customer: str | None
) -> tuple[int, int | None, Price | None]:
    """(product id, customer id, the price list or the customer's override if there is one)."""
    product_id = product_row(session, tenant_id, product).id
    customer_id = customer_row(session, tenant_id, customer).id if customer else None
    return product_id, customer_id, catalog.price(session, product_id, customer_id)


def set_price(
    ctx: Context,
    tenant: str,
    product: str,
    *,
    actor: Actor,
    unit_price: str | Decimal | None = None,
    unit_cost: str | Decimal | None = None,
    customer: str | None = None,
    tiers: str | None = None,
    tier_mode: str | None = None,
    places: int | None = None,
) -> PriceView:
    """Set a product's price, or a customer's override of it. Only the values given change: an
    existing price keeps the others (a new override starts from the product's price); ``tiers=""``
    removes the tiers."""
    price_value = decimal_of("unit_price", unit_price) if unit_price is not None else None
    cost_value = decimal_of("unit_cost", unit_cost) if unit_cost is not None else None
    if tier_mode is not None and tier_mode not in [m.value for m in TierMode]:
        raise InvalidInput(f"tier_mode: {tier_mode!r} is not graduated or volume", field="tier_mode")
    if places is not None and not 0 <= places <= PRICE_PLACES:
        raise InvalidInput(f"places: a price keeps 0 to {PRICE_PLACES} decimals", field="places")
    parsed_tiers = parse_tiers(tiers) if tiers is not None else None
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        product_id, customer_id, price = _price_of(session, row.id, product, customer)
        before = _view(price, product, customer).json_data() if price is not None else None
        if price is None:
            base = catalog.price(session, product_id, None) if customer_id is not None else None
            if price_value is None and not parsed_tiers and base is None:
                raise InvalidInput(
                    f"unit_price: {product} has no price yet: give a price (or tiers)", field="unit_price"
                )
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
                    f"tier_mode: {tier_mode} applies to tiers, and this price has none: give the tiers too",
                    field="tier_mode",
                )
            price.tier_mode = tier_mode
        if places is not None:
            price.places = places
        _check_places(price)
        try:
            domain_price(price)
        except DomainError as error:
            raise InvalidInput(str(error), field="tiers") from None
        view = _view(price, product, customer)
        audit(session, ctx, row.id, actor, "price.set", view.json_data(), before=before)
        return view


def delete_price(ctx: Context, tenant: str, product: str, *, actor: Actor, customer: str | None = None) -> Deleted:
    """Remove a customer's override (the price list applies again), or the product's price (0, flagged)."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        _, _, price = _price_of(session, row.id, product, customer)
        if price is None:
            whose = f"no override for customer {customer}" if customer else "no price"
            raise NotFound(f"{product} has {whose}", hint="list the prices to see them", field="product")
        before = _view(price, product, customer).json_data()
        session.delete(price)
        audit(session, ctx, row.id, actor, "price.delete", {"product": product, "customer": customer}, before=before)
    if customer:
        return Deleted(what="override", key=f"{product}/{customer}", detail="the price list applies again")
    return Deleted(what="price", key=product, detail="it bills at 0 (flagged in the preview) until a price is set")


def list_prices(ctx: Context, tenant: str, *, product: str | None = None) -> list[PriceView]:
    """Every price: each product's, then its customers' overrides."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        if product is not None:
            product_row(session, row.id, product)
        return [_view(price, key, external) for price, key, external in catalog.prices_named(session, row.id, product)]
