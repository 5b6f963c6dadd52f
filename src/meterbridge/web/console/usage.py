"""Usage: upload a file of samples (CSV or JSON lines; all rows or none, or the good rows with an
error report to download), the newest imports, and the newest samples by customer, product and period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from meterbridge.services import imports, ingest, products, tenants, usage
from meterbridge.services.errors import InvalidInput, ServiceError
from meterbridge.services.scope import parse_period
from meterbridge.services.views import ImportView, Role
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
        imports=_imports(call),
        customer=customer,
        product=product,
        period=period,
        periods=tenants.billing_periods(call.ctx, call.tenant),
        products=products.list_products(call.ctx, call.tenant),
        error=error,
        notice=request.query_params.get("done"),
        **call.template_context(),
    )


def _imports(call: TenantPage) -> list[ImportView]:
    try:
        return imports.list_imports(call.ctx, call.tenant, limit=10)
    except ServiceError:
        return []


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
            raise InvalidInput("file: choose a CSV or JSON lines file to upload", field="file")
        mode = ingest.mode_of(form.text("mode") or "all")
        view = await run_in_threadpool(
            imports.import_file, call.ctx, call.tenant, file.file, source=source, name=file.filename,
            encoding=form.text("encoding") or "utf-8", mode=mode, actor=call.actor,
        )  # fmt: skip
        imports.refuse_if_rejected(view)
    except ServiceError as error:
        return _page(request, call, customer="", product="", period="", status=422, error=error)
    notice = (
        f"{file.filename}: {view.added} samples added, {view.replaced} replaced (corrections), "
        f"{view.unchanged} already stored as they are"
        + (f"; {view.rejected} row(s) refused (see import {view.id} below)" if view.rejected else "")
        + "."
    )
    return redirect(f"{call.base}/usage", notice)


@router.get("/t/{tenant}/usage/imports/{import_id}/errors.csv")
def error_report(call: Page, import_id: int) -> Response:
    """An import's refused rows as a CSV file (row, column, value, message)."""
    report = "".join(imports.error_report(call.ctx, call.tenant, import_id))
    return Response(
        report,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'},
    )
