"""ConnectWise companies (the imported cache), customers, and the links between them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from meterbridge.services import companies, customers
from meterbridge.services.views import (
    CompanyView,
    CustomerSaved,
    CustomerView,
    Imported,
    LinkReportView,
    LinkView,
    SuggestionView,
)
from meterbridge.web.api.bodies import CustomerIn, LinkIn
from meterbridge.web.deps import Billing, Viewer

router = APIRouter(tags=["companies and customers"])


@router.get("/companies", response_model=list[CompanyView])
def list_companies(
    call: Viewer,
    q: Annotated[str | None, Query(max_length=100, description="identifier or name contains")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CompanyView]:
    """The imported ConnectWise companies (a type-ahead picks from these)."""
    return companies.list_companies(call.ctx, call.tenant, search=q, limit=limit)


@router.post("/companies/import", response_model=Imported)
async def import_companies(call: Billing) -> Imported:
    """Refresh the cache of ConnectWise companies (reads ConnectWise; writes nothing there)."""
    return await companies.import_companies(call.ctx, call.tenant, actor=call.actor)


@router.get("/links", response_model=list[LinkView])
def list_links(call: Viewer) -> list[LinkView]:
    return companies.list_links(call.ctx, call.tenant)


@router.post("/links/auto", response_model=LinkReportView)
def link_automatically(call: Billing) -> LinkReportView:
    """Link unlinked customers by identifier, then exact name; near matches come back as suggestions."""
    return companies.link_customers(call.ctx, call.tenant, actor=call.actor)


@router.get("/customers", response_model=list[CustomerView])
def list_customers(call: Viewer) -> list[CustomerView]:
    return customers.list_customers(call.ctx, call.tenant)


@router.get("/customers/{customer}", response_model=CustomerView)
def get_customer(call: Viewer, customer: str) -> CustomerView:
    return customers.show_customer(call.ctx, call.tenant, customer)


@router.put("/customers/{customer}", response_model=CustomerSaved)
def put_customer(call: Billing, customer: str, body: CustomerIn) -> CustomerSaved:
    """Create a customer, or change what is given of one (the rest is kept)."""
    return customers.add_customer(
        call.ctx,
        call.tenant,
        customer,
        body.name,
        managed_id=body.managed_id,
        push_enabled=body.push_enabled,
        actor=call.actor,
    )


@router.get("/customers/{customer}/suggestions", response_model=list[SuggestionView])
def suggest_companies(call: Viewer, customer: str) -> list[SuggestionView]:
    """Companies the customer's name or id resembles, with their scores (0 to 1), best first."""
    return companies.suggestions(call.ctx, call.tenant, customer)


@router.put("/customers/{customer}/link", response_model=LinkView)
def link_customer(call: Billing, customer: str, body: LinkIn) -> LinkView:
    return companies.set_link(call.ctx, call.tenant, customer, body.company, actor=call.actor)


@router.delete("/customers/{customer}/link", response_model=LinkView)
def unlink_customer(call: Billing, customer: str) -> LinkView:
    """Set the link to "not set" (automatic linking leaves it so)."""
    return companies.set_link(call.ctx, call.tenant, customer, None, actor=call.actor)
