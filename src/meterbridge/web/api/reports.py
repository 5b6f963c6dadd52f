"""The doctor, the leak report, Backup Stats and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from meterbridge.services import audit, basic_setup, doctor, leaks, notify
from meterbridge.services.views import AuditView, FindingView, LeakReportView, StatsView, View
from meterbridge.web.api.bodies import MAX_ID, DoctorIn, PeriodIn
from meterbridge.web.deps import Admin, Billing, Viewer
from meterbridge.web.idempotent import KEY_HELP, once

router = APIRouter(tags=["reports"])
KeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", description=KEY_HELP)]
Period = Annotated[str, Query(description="a billing month, e.g. 2026-10")]


class Findings(View):
    findings: list[FindingView]


@router.get("/doctor", response_model=Findings)
async def check(call: Viewer, period: Period) -> Findings:
    """Check the ConnectWise side of the set-up (nothing is changed)."""
    diagnosis = await doctor.diagnose(call.ctx, call.tenant, period, actor=call.actor)
    return Findings(findings=diagnosis.findings)


@router.post("/doctor", response_model=Findings)
async def check_and_fix(call: Billing, body: DoctorIn, request: Request, key: KeyHeader = None) -> JSONResponse:
    """Check, and with ``create`` create the missing catalog items and agreements in ConnectWise."""

    async def work() -> View:
        diagnosis = await doctor.diagnose(call.ctx, call.tenant, body.period, create=body.create, actor=call.actor)
        return Findings(findings=diagnosis.findings)

    return await once(call, request, body.model_dump(mode="json"), 200, work)


@router.get("/leaks", response_model=LeakReportView)
async def revenue_leaks(call: Viewer, period: Period) -> LeakReportView:
    """Usage with no billing line, lines with no usage, and usage billed twice on purpose, in money:
    what the usage no line invoices would bill at the prices in force (``unbilled``), and what
    additions bill the month with no usage behind them (``billed_without_usage``)."""
    return (await leaks.revenue_leaks(call.ctx, call.tenant, period)).view()


@router.post("/backup-stats", response_model=StatsView)
async def backup_stats(call: Billing, body: PeriodIn, request: Request, key: KeyHeader = None) -> JSONResponse:
    """Basic setup: publish Backup Stats configurations (billable GB, year, month) by Managed ID."""

    async def work() -> View:
        try:
            return await basic_setup.publish_backup_stats(call.ctx, call.tenant, body.period, actor=call.actor)
        finally:
            await notify.deliver_quietly(call.ctx, call.tenant)  # the messages about it go now, as a push's do

    return await once(call, request, body.model_dump(mode="json"), 200, work)


@router.get("/audit", response_model=list[AuditView])
def audit_log(
    call: Admin,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="entries older than this id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditView]:
    """Every change: who (the actor), when, what."""
    return audit.list_audit(call.ctx, call.tenant, limit=limit, before=before)
