"""Billing: pick a period, preview it (grouped by company, every number expandable to its
explanation, blocked lines with what to do, the safety verdict), push it by its checksum, follow
the push while it runs (a progress bar polled by htmx) and see each company's result; the history
of runs and each run in detail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from meterbridge.services import notify, push, runs, tenants
from meterbridge.services.errors import InvalidInput, ServiceError
from meterbridge.services.live import LiveRun
from meterbridge.services.messages import counted, nothing_to_write
from meterbridge.services.notify import deliver_quietly
from meterbridge.services.review import SHOWS, review
from meterbridge.services.views import PlanReview, Role, RunView
from meterbridge.web.background import Background
from meterbridge.web.console.actions import link
from meterbridge.web.console.auth import Page, Posted, TenantPage
from meterbridge.web.console.progress import running_push
from meterbridge.web.console.render import PREFIX, change, money, page, redirect
from meterbridge.web.errors import STATUSES

router = APIRouter(prefix=PREFIX)
COMPANIES_PER_PAGE = 50
Show = Annotated[str, Query(max_length=20)]
Search = Annotated[str, Query(max_length=200)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def _common(call: TenantPage) -> dict[str, Any]:
    settings = tenants.show_settings(call.ctx, call.tenant)
    return {"currency": settings.currency, "link": lambda action, params: link(call.base, action, params)}


def _billing_page(
    request: Request, call: TenantPage, period: str | None, run_id: int | None, show: str, q: str, offset: int,
    *, status: int = 200, error: ServiceError | None = None,
) -> Response:  # fmt: skip
    periods = tenants.billing_periods(call.ctx, call.tenant)
    period = period or periods.default
    found: PlanReview | None = None
    if run_id is None:
        newest = runs.list_runs(call.ctx, call.tenant, kind="preview", period=period, limit=1, brief=True)
        run_id = newest[0].id if newest else None
    if run_id is not None:
        found = review(call.ctx, call.tenant, run_id, show=show, search=q, offset=offset, limit=COMPANIES_PER_PAGE)
    pushes = runs.list_runs(call.ctx, call.tenant, kind="push", period=period, limit=1, brief=True)
    nothing = nothing_to_write(found.run.summary) if found is not None else None
    return page(
        request,
        "billing.html",
        status,
        section="billing",
        periods=periods,
        period=period,
        review=found,
        run_id=run_id,
        last_push=pushes[0] if pushes else None,
        shows=SHOWS,
        show=show,
        q=q,
        error=error,
        notice=request.query_params.get("done"),
        nothing=nothing,
        **_common(call),
        **call.template_context(),
    )


@router.get("/t/{tenant}/billing", response_class=HTMLResponse)
def billing(
    request: Request,
    call: Page,
    period: Annotated[str | None, Query(max_length=20)] = None,
    run: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    show: Show = "all",
    q: Search = "",
    offset: Offset = 0,
) -> Response:
    return _billing_page(request, call, period, run, show, q, offset)


@router.post("/t/{tenant}/billing/preview", response_class=HTMLResponse)
async def preview(request: Request, call: Page, form: Posted) -> Response:
    call.require(Role.BILLING)
    period = form.text("period")
    try:
        if not period:
            raise InvalidInput("period: pick the month to bill", field="period")
        outcome = await push.preview(call.ctx, call.tenant, period, actor=call.actor)
    except ServiceError as error:
        return _billing_page(request, call, period or None, None, "all", "", 0, status=_status(error), error=error)
    totals, currency = outcome.totals, tenants.show_settings(call.ctx, call.tenant).currency
    notice = (
        f"Previewed {outcome.period}: {totals.writes.planned} writes; billed {money(totals.billed_before, currency)} "
        f"-> {money(totals.billed_after, currency)} ({change(totals.billed_change, currency)}). Nothing was written "
        "to ConnectWise."
    )
    if outcome.held is not None:
        notice += f" {counted(outcome.held.companies, 'company')} held for approval: see below."
    return redirect(f"{call.base}/billing?period={outcome.period}&run={outcome.run}", notice)


def _status(error: ServiceError) -> int:
    return STATUSES.get(error.kind, 400)


@router.post("/t/{tenant}/billing/push", response_class=HTMLResponse)
async def start_push(request: Request, call: Page, form: Posted) -> Response:
    """Push the reviewed plan: its checksum is the approval (a plan that changed since is refused);
    ``approve_held``: the held companies too (``customers``: one held company, by its own checksum)."""
    call.require(Role.BILLING)
    period, checksum = form.text("period"), form.text("checksum")
    only = frozenset(form.texts("customers")) or None
    approve_held = form.checked("approve_held")
    background: Background = request.app.state.background

    async def work(live: LiveRun) -> Any:
        try:
            return await push.push(
                call.ctx, call.tenant, period, checksum=checksum, actor=call.actor, live=live, only=only,
                approve_held=approve_held,
            )  # fmt: skip
        finally:
            await deliver_quietly(call.ctx, call.tenant)

    try:
        if not checksum:
            raise InvalidInput("checksum: preview the period first and push the plan you reviewed", field="checksum")
        run_id = await background.start(work)
    except ServiceError as error:
        return _billing_page(request, call, period or None, None, "all", "", 0, status=_status(error), error=error)
    return redirect(f"{call.base}/runs/{run_id}")


def _run_page(request: Request, call: TenantPage, run_id: int, show: str, q: str, offset: int) -> Response:
    found = review(call.ctx, call.tenant, run_id, show=show, search=q, offset=offset, limit=COMPANIES_PER_PAGE)
    return page(
        request,
        "run.html",
        section="history",
        review=found,
        run=found.run,
        sent=notify.of_run(call.ctx, call.tenant, run_id),
        live=running_push(request, call, found.run),
        run_id=run_id,
        shows=SHOWS,
        show=show,
        q=q,
        pager_base=f"{call.base}/runs/{run_id}",
        **_common(call),
        **call.template_context(),
    )


@router.get("/t/{tenant}/runs/{run_id}", response_class=HTMLResponse)
def run_detail(
    request: Request, call: Page, run_id: int, show: Show = "all", q: Search = "", offset: Offset = 0
) -> Response:
    return _run_page(request, call, run_id, show, q, offset)


@router.get("/t/{tenant}/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(request: Request, call: Page, run_id: int) -> Response:
    """While the push runs: the progress bar (polled by htmx); once it has ended, a reload."""
    head = runs.show_run_head(call.ctx, call.tenant, run_id)
    live = running_push(request, call, head)
    if live is None:
        return HTMLResponse("", headers={"HX-Refresh": "true"})
    return page(request, "_progress.html", run=head, live=live, **_common(call), **call.template_context())


@router.get("/t/{tenant}/runs", response_class=HTMLResponse)
def history(
    request: Request,
    call: Page,
    kind: Annotated[str, Query(max_length=20)] = "",
    period: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    before: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> Response:
    listed: list[RunView] = []
    error = None
    try:
        listed = runs.list_runs(
            call.ctx, call.tenant, limit=50, kind=kind or None, status=status or None, period=period or None,
            before=before, brief=True,
        )  # fmt: skip
    except ServiceError as failure:
        error = failure
    return page(
        request,
        "runs.html",
        422 if error else 200,
        section="history",
        recent=listed,
        kind=kind,
        period=period,
        run_status=status,
        periods=tenants.billing_periods(call.ctx, call.tenant),
        error=error,
        csv=f"/api/v1/tenants/{call.tenant}/runs.csv",
        **_common(call),
        **call.template_context(),
    )
