"""Companies: the customers and the ConnectWise companies they are linked to. Search and filter,
link one by picking a company (type-ahead over the imported companies), accept suggestions in
bulk, set a link to "not set", switch a customer's push off; a customer's own page with its
billed amount per month."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import companies, configurations, customers, tenants, trends
from meterbridge.services.company_list import FILTERS, company_list
from meterbridge.services.errors import ServiceError
from meterbridge.services.views import Role
from meterbridge.web.console.auth import Form, Page, Posted, TenantPage
from meterbridge.web.console.render import PREFIX, page, redirect

router = APIRouter(prefix=PREFIX)
PAGE_SIZE = 50


def _back(call: TenantPage, form: Form) -> str:
    """Where a form returns to: the page it was sent from (a path of this tenant), else the list."""
    back = form.text("back")
    return back if back.startswith(call.base + "/") and "//" not in back else f"{call.base}/companies"


@router.get("/t/{tenant}/companies", response_class=HTMLResponse)
def list_page(
    request: Request,
    call: Page,
    show: Annotated[str, Query(max_length=20)] = "all",
    q: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    listing = company_list(call.ctx, call.tenant, show=show, search=q or None, offset=offset, limit=PAGE_SIZE)
    imported = len(companies.list_companies(call.ctx, call.tenant, limit=1))
    return page(
        request,
        "companies.html",
        section="companies",
        listing=listing,
        filters=FILTERS,
        show=show,
        q=q,
        imported=imported,
        here=str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
        notice=request.query_params.get("done"),
        **call.template_context(),
    )


@router.get("/t/{tenant}/companies/options", response_class=HTMLResponse)
def company_options(request: Request, call: Page, company: Annotated[str, Query(max_length=100)] = "") -> Response:
    """The type-ahead: up to 20 imported companies whose identifier or name contains the text."""
    found = companies.list_companies(call.ctx, call.tenant, search=company or None, limit=20)
    return page(request, "_company_options.html", found=found)


@router.post("/t/{tenant}/companies/import")
async def import_companies(call: Page, form: Posted) -> Response:
    call.require(Role.BILLING)
    done = await companies.import_companies(call.ctx, call.tenant, actor=call.actor)
    return redirect(_back(call, form), f"Imported {done.imported} companies from ConnectWise.")


@router.post("/t/{tenant}/companies/link-auto")
def link_automatically(call: Page, _form: Posted) -> Response:
    call.require(Role.BILLING)
    report = companies.link_customers(call.ctx, call.tenant, actor=call.actor)
    notice = (
        f"Linked {len(report.linked)} customers by identifier or exact name; {len(report.suggested)} have "
        f"suggestions to confirm; {len(report.unmatched)} match no company."
    )
    target = "?show=suggested" if report.suggested else "?show=unlinked" if report.unmatched else ""
    return redirect(f"{call.base}/companies{target}", notice)


@router.post("/t/{tenant}/companies/accept")
def accept_suggestions(call: Page, form: Posted) -> Response:
    """Link every ticked customer to the company picked for it."""
    call.require(Role.BILLING)
    linked: list[str] = []
    for external_id in form.texts("accept"):
        company = form.text(f"pick-{external_id}")
        if company:
            companies.set_link(call.ctx, call.tenant, external_id, company, actor=call.actor)
            linked.append(external_id)
    if not linked:
        return redirect(_back(call, form), "No customer was ticked: tick the ones to link.", failed=True)
    return redirect(_back(call, form), f"Linked {len(linked)} customers.")


@router.post("/t/{tenant}/customers/{customer}/link")
def link_customer(call: Page, customer: str, form: Posted) -> Response:
    call.require(Role.BILLING)
    company = form.text("company")
    if not company:
        return redirect(_back(call, form), f"Pick a company for {customer} first (type part of its name).", failed=True)
    try:
        view = companies.set_link(call.ctx, call.tenant, customer, company, actor=call.actor)
    except ServiceError as error:
        return redirect(_back(call, form), f"{customer}: {error.message}", failed=True)
    return redirect(_back(call, form), f"{customer} is linked to {view.cw_identifier}.")


@router.post("/t/{tenant}/customers/{customer}/unlink")
def unlink_customer(call: Page, customer: str, form: Posted) -> Response:
    call.require(Role.BILLING)
    companies.set_link(call.ctx, call.tenant, customer, None, actor=call.actor)
    return redirect(_back(call, form), f"{customer}'s link is not set; automatic linking leaves it so.")


@router.post("/t/{tenant}/customers/{customer}/push")
def set_push(call: Page, customer: str, form: Posted) -> Response:
    call.require(Role.BILLING)
    enabled = form.text("enabled") == "on"
    customers.add_customer(call.ctx, call.tenant, customer, push_enabled=enabled, actor=call.actor)
    state = "on: its billing is pushed" if enabled else "off: nothing is sent to ConnectWise for it"
    return redirect(_back(call, form), f"Push for {customer} is {state}.")


@router.get("/t/{tenant}/customers/{customer}", response_class=HTMLResponse)
def customer_page(request: Request, call: Page, customer: str) -> Response:
    view = customers.show_customer(call.ctx, call.tenant, customer)
    settings = tenants.show_settings(call.ctx, call.tenant)
    return page(
        request,
        "customer.html",
        section="companies",
        customer=view,
        suggestions=companies.suggestions(call.ctx, call.tenant, customer) if view.cw_id is None else [],
        configurations=configurations.list_configurations(call.ctx, call.tenant, customer),
        billed=trends.billed_by_month(call.ctx, call.tenant, customer=customer),
        currency=settings.currency,
        here=str(request.url.path),
        notice=request.query_params.get("done"),
        **call.template_context(),
    )
