"""Usage samples: a batch as JSON, a CSV upload, a list, and withdrawals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from meterbridge.services import usage
from meterbridge.services.errors import InvalidInput
from meterbridge.services.scope import parse_period
from meterbridge.services.views import SampleView, UsageStored, Withdrawn
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
    """Store a batch of samples, all or none (an error names the sample by its position, from 1).
    A sample's identity is (source, customer, product, measured_at): sending it again changes
    nothing, a new value replaces the old one."""
    samples = [
        usage.Sample(s.customer, s.product, _aware(s.measured_at, n), s.quantity, s.unit, s.customer_name)
        for n, s in enumerate(body.samples, start=1)
    ]
    return usage.store_samples(call.ctx, call.tenant, samples, source=body.source, actor=call.actor)


def _aware(moment: datetime, position: int) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(
            f"sample {position}: measured_at has no time zone; add Z or an offset such as +01:00",
            row=position,
            field="measured_at",
        )
    return moment


@router.post(
    "/usage/csv",
    response_model=UsageStored,
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def upload_usage(
    call: Billing, request: Request, source: Annotated[str, Query(max_length=200)] = "default"
) -> UsageStored:
    """A CSV file as the body (text/csv, UTF-8): customer,product,measured_at,quantity,unit[,customer_name].
    All rows or none; an error names the row and the column."""
    kind = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    if kind not in CSV_TYPES:
        raise InvalidInput(f"Content-Type: {kind} is not a CSV file; send the file as text/csv", field="Content-Type")
    text = usage.decode_upload(await request.body())
    stored: UsageStored = await run_in_threadpool(
        usage.import_csv, call.ctx, call.tenant, text, source=source, actor=call.actor
    )
    return stored


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
