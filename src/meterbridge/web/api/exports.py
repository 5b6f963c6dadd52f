"""Exports: the billing export (every line each month's newest push billed) as CSV or XLSX."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from meterbridge.services import billing_export
from meterbridge.services.views import ExportFormat
from meterbridge.web.deps import Viewer

router = APIRouter(tags=["reports"])

FILES: dict[str, Any] = {media: {} for media in billing_export.MEDIA_TYPES.values()}


@router.get(
    "/exports/billing",
    response_class=Response,
    responses={200: {"content": FILES, "description": "the export, as a file to save"}},
)
def export_billing(
    call: Viewer,
    period: Annotated[str, Query(max_length=20, description="the first billing month, e.g. 2026-11")],
    to: Annotated[str | None, Query(max_length=20, description="the last billing month (default: the first)")] = None,
    format: Annotated[ExportFormat, Query(description="csv, or xlsx: a workbook with a sheet per month")] = (
        ExportFormat.CSV
    ),
) -> Response:
    """Every line each month's newest finished push billed, per customer and ConnectWise product:
    quantity, unit price, amount, cost, margin and the ConnectWise addition, as ConnectWise will
    invoice them; a month's total is its push's ``totals.billed_after``. A month without a
    finished push is left out (``X-Months-Missing`` names them); a range without any is 422."""
    made = billing_export.billing_export(call.ctx, call.tenant, period, to=to, format=format.value)
    headers = {"Content-Disposition": f'attachment; filename="{made.filename}"'}
    if made.view.missing:
        headers["X-Months-Missing"] = ",".join(made.view.missing)
    return Response(made.content, media_type=made.media_type, headers=headers)
