"""Products (and the ConnectWise catalog item each maps to) and prices (price lists, per-customer
overrides, tiers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from meterbridge.services import prices, products
from meterbridge.services.tiers import format_tiers
from meterbridge.services.views import Deleted, PriceView, ProductSaved, ProductView, TierView
from meterbridge.web.api.bodies import PriceIn, ProductIn
from meterbridge.web.deps import Billing, Viewer

router = APIRouter(tags=["products and prices"])


@router.get("/products", response_model=list[ProductView])
def list_products(call: Viewer) -> list[ProductView]:
    return products.list_products(call.ctx, call.tenant)


@router.put("/products/{product}", response_model=ProductSaved)
def put_product(call: Billing, product: str, body: ProductIn) -> ProductSaved:
    """Create a product, or change what is given of one (the rest is kept)."""
    return products.save_product(
        call.ctx,
        call.tenant,
        product,
        name=body.name,
        kind=body.kind,
        unit=body.unit,
        basis=body.basis,
        cw_product=body.cw_product,
        actor=call.actor,
    )


@router.get("/prices", response_model=list[PriceView])
def list_prices(call: Viewer, product: Annotated[str | None, Query()] = None) -> list[PriceView]:
    """Each product's price list, then its customers' overrides."""
    return prices.list_prices(call.ctx, call.tenant, product=product)


def _set(call: Billing, product: str, customer: str | None, body: PriceIn) -> PriceView:
    tiers = None
    if body.tiers is not None:
        tiers = format_tiers(
            [TierView(up_to=t.up_to, unit_price=t.unit_price, unit_cost=t.unit_cost) for t in body.tiers]
        )
    return prices.set_price(
        call.ctx,
        call.tenant,
        product,
        unit_price=body.unit_price,
        unit_cost=body.unit_cost,
        customer=customer,
        tiers=tiers,
        tier_mode=body.tier_mode,
        places=body.places,
        actor=call.actor,
    )


@router.put("/prices/{product}", response_model=PriceView)
def put_price(call: Billing, product: str, body: PriceIn) -> PriceView:
    """Set the product's price list; only the values given change."""
    return _set(call, product, None, body)


@router.put("/prices/{product}/customers/{customer}", response_model=PriceView)
def put_override(call: Billing, product: str, customer: str, body: PriceIn) -> PriceView:
    """Set a customer's override of the price (a new one starts from the price list)."""
    return _set(call, product, customer, body)


@router.delete("/prices/{product}", response_model=Deleted)
def delete_price(call: Billing, product: str) -> Deleted:
    return prices.delete_price(call.ctx, call.tenant, product, actor=call.actor)


@router.delete("/prices/{product}/customers/{customer}", response_model=Deleted)
def delete_override(call: Billing, product: str, customer: str) -> Deleted:
    return prices.delete_price(call.ctx, call.tenant, product, customer=customer, actor=call.actor)
