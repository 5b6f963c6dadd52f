"""The billing export from the console: the history page's form downloads every line each month's
newest push billed, as CSV or as an XLSX workbook with a sheet per month (the API's
``/exports/billing``); a month or range without a finished push goes back to the page, saying so."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from meterbridge.services import billing_export
from meterbridge.services.errors import ServiceError
from meterbridge.web.console.auth import Page
from meterbridge.web.console.render import PREFIX, SECURITY_HEADERS, query, redirect

router = APIRouter(prefix=PREFIX)
Month = Annotated[str, Query(max_length=20)]


@router.get("/t/{tenant}/billing/export")
async def export_billing(call: Page, period: Month = "", to: Month = "", format: Month = "csv") -> Response:
    try:
        made = await run_in_threadpool(
            billing_export.billing_export, call.ctx, call.tenant, period, to=to or None, format=format
        )
    except ServiceError as error:
        return redirect(f"{call.base}/runs{query(period=period)}", error.message, failed=True)
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{made.filename}"'}
    return Response(made.content, media_type=made.media_type, headers=headers)
