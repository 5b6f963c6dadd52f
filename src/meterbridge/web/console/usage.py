"""Usage: upload a CSV file of samples (all rows or none; an error names the row and column) and
look at the newest samples, by customer, product and period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from meterbridge.services import products, tenants, usage
from meterbridge.services.errors import InvalidInput, ServiceError
from meterbridge.services.scope import parse_period
from meterbridge.services.views import Role
from meterbridge.web.console.auth import Page, Posted, TenantPage
from meterbridge.web.console.render import PREFIX, page, redirect

router = APIRouter(prefix=PREFIX)
SHOWN = 200
UPLOAD_PATH = "/usage/upload"


def _page(
    request: Request, call: TenantPage, *, customer: str, product: str, period: str, status: int = 200,
    error: ServiceError | None = None,
) -> Response:  # fmt: skip
    samples = []
    try:
        samples = usage.list_samples(
            call.ctx, call.tenant, customer=customer or None, product=product or None,
            period=parse_period(period) if period else None, limit=SHOWN,
        )  # fmt: skip
    except ServiceError as failure:
        error, status = error or failure, status if error else 422
    return page(
        request,
        "usage.html",
        status,
        section="usage",
        samples=samples,
        shown=SHOWN,
        customer=customer,
        product=product,
        period=period,
        periods=tenants.billing_periods(call.ctx, call.tenant),
        products=products.list_products(call.ctx, call.tenant),
        error=error,
        notice=request.query_params.get("done"),
        **call.template_context(),
    )


@router.get("/t/{tenant}/usage", response_class=HTMLResponse)
def show(
    request: Request,
    call: Page,
    customer: Annotated[str, Query(max_length=200)] = "",
    product: Annotated[str, Query(max_length=200)] = "",
    period: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _page(request, call, customer=customer, product=product, period=period)


@router.post("/t/{tenant}" + UPLOAD_PATH, response_class=HTMLResponse)
async def upload(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.BILLING)
    file = form.data.get("file")
    source = form.text("source") or "default"
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise InvalidInput("file: choose a CSV file to upload", field="file")
        text = usage.decode_upload(await file.read(usage.MAX_UPLOAD + 1), field="file")
        stored = await run_in_threadpool(
            usage.import_csv, call.ctx, call.tenant, text, source=source, file=file.filename, actor=call.actor
        )
    except ServiceError as error:
        return _page(request, call, customer="", product="", period="", status=422, error=error)
    notice = (
        f"{file.filename}: {stored.added} samples added, {stored.replaced} replaced (corrections), "
        f"{stored.unchanged} already stored as they are."
    )
    return redirect(f"{call.base}/usage", notice)
