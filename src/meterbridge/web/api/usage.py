"""Usage samples: a batch as JSON, a file upload (CSV or JSON lines, recorded as an import), the
imports and their error reports, a list, and withdrawals."""

from __future__ import annotations

import tempfile
from datetime import datetime
from typing import Annotated, BinaryIO, Literal, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from meterbridge.services import imports, ingest, usage
from meterbridge.services.errors import InvalidInput
from meterbridge.services.scope import parse_period
from meterbridge.services.views import ImportView, SampleView, UsageStored, Withdrawn
from meterbridge.web.api.bodies import UsageIn, WithdrawIn
from meterbridge.web.deps import Billing, Viewer

router = APIRouter(tags=["usage"])
#: What a CSV upload may be sent as (curl --data-binary sends application/x-www-form-urlencoded).
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/octet-stream",
             "application/x-www-form-urlencoded", "")  # fmt: skip


@router.get("/usage", response_model=list[SampleView])
def list_usage(
    call: Viewer,
    customer: Annotated[str | None, Query()] = None,
    product: Annotated[str | None, Query()] = None,
    period: Annotated[str | None, Query(description="a billing month, e.g. 2026-10")] = None,
    source: Annotated[str | None, Query()] = None,
    withdrawn: Annotated[bool, Query(description="include withdrawn samples")] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[SampleView]:
    return usage.list_samples(
        call.ctx,
        call.tenant,
        customer=customer,
        product=product,
        period=parse_period(period) if period else None,
        source=source,
        withdrawn=withdrawn,
        limit=limit,
    )


@router.post("/usage", response_model=UsageStored)
def add_usage(call: Billing, body: UsageIn) -> UsageStored:
    """Store a batch of samples: all or none (mode all; an error names the sample by its position,
    from 1), or the good ones with the others listed in ``errors`` (mode valid).
    A sample's identity is (source, customer, product, measured_at): sending it again changes
    nothing, a new value replaces the old one."""
    samples = [
        usage.Sample(s.customer, s.product, _aware(s.measured_at, n), s.quantity, s.unit, s.customer_name)
        for n, s in enumerate(body.samples, start=1)
    ]
    return usage.store_samples(
        call.ctx, call.tenant, samples, source=body.source, actor=call.actor, mode=ingest.Mode(body.mode)
    )


def _aware(moment: datetime, position: int) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(
            f"sample {position}: measured_at has no time zone; add Z or an offset such as +01:00",
            row=position,
            field="measured_at",
        )
    return moment


JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
SPOOL = 8 * 1024 * 1024  # bytes of an upload kept in memory; the rest goes to a temporary file


@router.post(
    "/usage/csv",
    response_model=UsageStored,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def upload_usage(
    call: Billing,
    request: Request,
    source: Annotated[str, Query(max_length=200)] = "default",
    mode: Annotated[
        Literal["all", "valid"],
        Query(description="all: all rows or none (422 naming the first bad row); valid: store the good rows"),
    ] = "all",
    encoding: Annotated[str, Query(max_length=40, description="the file's encoding; a byte order mark wins")] = "utf-8",
) -> UsageStored:
    """A usage file as the body, streamed: CSV (text/csv: customer,product,measured_at,quantity,unit
    [,customer_name]) or JSON lines (application/x-ndjson: one object per line with those fields).
    Every upload is recorded as an import: GET /usage/imports/{import_id}/errors is its error report."""
    kind = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    if kind not in CSV_TYPES + JSONL_TYPES:
        raise InvalidInput(
            f"Content-Type: {kind} is not a usage file; send CSV as text/csv or JSON lines as application/x-ndjson",
            field="Content-Type",
        )
    encoding = imports.check_encoding_name(encoding)  # refused (422) before the body is read
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        view: ImportView = await run_in_threadpool(
            imports.import_file, call.ctx, call.tenant, cast(BinaryIO, spool), actor=call.actor, source=source,
            origin="api", format="jsonl" if kind in JSONL_TYPES else "csv", encoding=encoding, mode=ingest.Mode(mode),
        )  # fmt: skip
    return usage.stored_of(imports.refuse_if_rejected(view))


@router.get("/usage/imports", response_model=list[ImportView])
def list_imports(
    call: Viewer,
    source: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[ImportView]:
    """The newest imports (files, uploads, pulls): what each read, stored and refused."""
    return imports.list_imports(call.ctx, call.tenant, source=source, limit=limit)


@router.get("/usage/imports/{import_id}", response_model=ImportView)
def show_import(call: Viewer, import_id: int) -> ImportView:
    """One import, with its first 100 refused rows."""
    return imports.show_import(call.ctx, call.tenant, import_id)


@router.get(
    "/usage/imports/{import_id}/errors",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "the error report"}},
)
def import_errors(call: Viewer, import_id: int) -> Response:
    """The import's error report as CSV: row, column, value, message (what to do)."""
    report = "".join(imports.error_report(call.ctx, call.tenant, import_id))
    return Response(
        report,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'},
    )


@router.post("/usage/withdraw", response_model=Withdrawn)
def withdraw_usage(call: Billing, body: WithdrawIn) -> Withdrawn:
    """Withdraw a customer's samples (kept for the record, no longer counted)."""
    return usage.withdraw_samples(
        call.ctx,
        call.tenant,
        body.customer,
        product=body.product,
        period=parse_period(body.period) if body.period else None,
        source=body.source,
        at=_aware(body.at, 1) if body.at else None,
        actor=call.actor,
    )
