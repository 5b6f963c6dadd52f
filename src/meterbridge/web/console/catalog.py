"""Products and prices: each product's ConnectWise mapping, its price list (unit price and cost,
tiers, the decimals the price keeps) and per-customer overrides."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import prices, products, tenants
from meterbridge.services.errors import InvalidInput, ServiceError
from meterbridge.services.tiers import format_tiers
from meterbridge.services.views import Role
from meterbridge.web.console.auth import Form, Page, Posted, TenantPage
from meterbridge.web.console.render import PREFIX, field_errors, page, redirect

router = APIRouter(prefix=PREFIX)


def _page(request: Request, call: TenantPage, status: int = 200, **extra: Any) -> Response:
    listed = products.list_products(call.ctx, call.tenant)
    every = prices.list_prices(call.ctx, call.tenant)
    context: dict[str, Any] = {
        "error": None,
        "errors": {},
        "failed_form": None,
        "values": {},
        "notice": request.query_params.get("done"),
    }
    context.update(extra)
    return page(
        request,
        "products.html",
        status,
        section="products",
        products=listed,
        price_lists={p.product: p for p in every if p.customer is None},
        overrides=[p for p in every if p.customer is not None],
        tiers_text={p.key: format_tiers(p.tiers) for p in listed},
        choices=products.CHOICES,
        currency=tenants.show_settings(call.ctx, call.tenant).currency,
        **context,
        **call.template_context(),
    )


def _failed(request: Request, call: TenantPage, error: ServiceError, form_id: str, form: Form) -> Response:
    return _page(request, call, 422, error=error, errors=field_errors(error), failed_form=form_id,
                 values=dict(form.data.items()))  # fmt: skip


@router.get("/t/{tenant}/products", response_class=HTMLResponse)
def show(request: Request, call: Page) -> Response:
    return _page(request, call)


@router.post("/t/{tenant}/products", response_class=HTMLResponse)
def save_product(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.BILLING)
    key = form.text("key")
    form_id = form.text("form_id") or "new-product"
    try:
        if not key:
            raise InvalidInput("key: name the product (e.g. storage, server-license)", field="key")
        saved = products.save_product(
            call.ctx,
            call.tenant,
            key,
            name=form.optional("name"),
            kind=form.optional("kind"),
            unit=form.optional("unit"),
            basis=form.optional("basis"),
            cw_product=form.text("cw_product") if "cw_product" in form.data else None,
            actor=call.actor,
        )
    except ServiceError as error:
        return _failed(request, call, error, form_id, form)
    verb = "added" if saved.created else "saved"
    return redirect(f"{call.base}/products#product-{key}", f"Product {key} {verb}.")


@router.post("/t/{tenant}/prices/{product}", response_class=HTMLResponse)
def save_price(request: Request, call: Page, product: str, form: Posted) -> Response:
    """The price list, or with ``customer`` that customer's override (a new one starts from the list)."""
    call.require(Role.BILLING)
    customer = form.optional("customer")
    form_id = form.text("form_id") or f"price-{product}"
    places = form.optional("places")
    try:
        if places is not None and not places.isdigit():
            raise InvalidInput(f"places: {places!r} is not a whole number of decimals (0 to 8)", field="places")
        prices.set_price(
            call.ctx,
            call.tenant,
            product,
            unit_price=form.optional("unit_price"),
            unit_cost=form.optional("unit_cost"),
            customer=customer,
            tiers=form.text("tiers") if "tiers" in form.data else None,
            tier_mode=form.optional("tier_mode") if form.text("tiers") else None,  # a mode is for tiers
            places=int(places) if places is not None else None,
            actor=call.actor,
        )
    except ServiceError as error:
        return _failed(request, call, error, form_id, form)
    whose = f"{customer}'s override of {product}" if customer else f"the price of {product}"
    return redirect(f"{call.base}/products#product-{product}", f"Saved {whose}.")


@router.post("/t/{tenant}/prices/{product}/delete", response_class=HTMLResponse)
def delete_price(call: Page, product: str, form: Posted) -> Response:
    call.require(Role.BILLING)
    deleted = prices.delete_price(call.ctx, call.tenant, product, customer=form.optional("customer"), actor=call.actor)
    notice = f"Deleted {deleted.what} {deleted.key}: {deleted.detail}"
    return redirect(f"{call.base}/products#product-{product}", notice)
