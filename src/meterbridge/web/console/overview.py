"""The tenant's overview: the set-up checklist (first), what was billed per month, usage per
product, and the newest runs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import products, runs, tenants, trends
from meterbridge.services.checklist import checklist
from meterbridge.web.console.auth import Page
from meterbridge.web.console.render import PREFIX
from meterbridge.web.console.render import page as render

router = APIRouter(prefix=PREFIX)
CHARTED_PRODUCTS = 4


@router.get("/t/{tenant}", response_class=HTMLResponse)
def overview(request: Request, page: Page) -> Response:
    steps = checklist(page.ctx, page.tenant)
    settings = tenants.show_settings(page.ctx, page.tenant)
    charted = products.list_products(page.ctx, page.tenant)[:CHARTED_PRODUCTS]
    return render(
        request,
        "overview.html",
        section="overview",
        checklist=steps,
        currency=settings.currency,
        billed=trends.billed_by_month(page.ctx, page.tenant),
        usage=[trends.usage_by_month(page.ctx, page.tenant, p.key) for p in charted],
        recent=runs.list_runs(page.ctx, page.tenant, limit=5, brief=True),
        notice=request.query_params.get("done"),
        **page.template_context(),
    )
