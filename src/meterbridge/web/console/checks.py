"""The leak report (usage with no line, lines with no usage, usage billed twice on purpose) and
the doctor (the ConnectWise side of the set-up; with "create", what is missing is created), and
where ConnectWise was edited by hand (drift, from the newest preview)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import doctor, leaks, runs, tenants
from meterbridge.services.errors import ServiceError
from meterbridge.services.review import review
from meterbridge.services.views import FindingView, LeakReportView, Role
from meterbridge.web.console.actions import link
from meterbridge.web.console.auth import Page, Posted, TenantPage
from meterbridge.web.console.render import PREFIX, page

router = APIRouter(prefix=PREFIX)
Period = Annotated[str | None, Query(max_length=20)]


def _drift(call: TenantPage, period: str) -> tuple[int | None, int]:
    """(the newest preview of the period, how many of its companies hold lines edited by hand)."""
    newest = runs.list_runs(call.ctx, call.tenant, kind="preview", period=period, limit=1, brief=True)
    if not newest:
        return None, 0
    return newest[0].id, review(call.ctx, call.tenant, newest[0].id, show="drift", limit=1).matching


def _context(call: TenantPage, period: str | None) -> dict[str, Any]:
    periods = tenants.billing_periods(call.ctx, call.tenant)
    chosen = period or periods.default
    preview, drifted = _drift(call, chosen)
    return {
        "periods": periods,
        "period": chosen,
        "preview": preview,
        "drifted": drifted,
        "currency": tenants.show_settings(call.ctx, call.tenant).currency,
        "link": lambda action, params: link(call.base, action, params),
        **call.template_context(),
    }


@router.get("/t/{tenant}/leaks", response_class=HTMLResponse)
async def leak_report(request: Request, call: Page, period: Period = None) -> Response:
    context = _context(call, period)
    report: LeakReportView | None = None
    error = None
    try:
        report = (await leaks.revenue_leaks(call.ctx, call.tenant, context["period"])).view()
    except ServiceError as failure:
        error = failure
    return page(request, "leaks.html", 200 if error is None else 409, section="leaks", report=report,
                leaks=report.leaks if report else [], error=error, **context)  # fmt: skip


async def _doctor(request: Request, call: TenantPage, period: str | None, *, create: bool) -> Response:
    context = _context(call, period)
    findings: list[FindingView] = []
    error = None
    try:
        diagnosis = await doctor.diagnose(call.ctx, call.tenant, context["period"], create=create, actor=call.actor)
        findings = diagnosis.findings
    except ServiceError as failure:
        error = failure
    return page(request, "doctor.html", 200 if error is None else 409, section="doctor", findings=findings,
                created=create, error=error, **context)  # fmt: skip


@router.get("/t/{tenant}/doctor", response_class=HTMLResponse)
async def check(request: Request, call: Page, period: Period = None) -> Response:
    return await _doctor(request, call, period, create=False)


@router.post("/t/{tenant}/doctor", response_class=HTMLResponse)
async def check_and_create(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.BILLING)
    return await _doctor(request, call, form.optional("period"), create=True)
