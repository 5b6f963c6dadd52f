"""Previews, pushes and the runs they make: a preview answers with its plan's totals, checksum
and verdict (its changes, with their explanations, a page at a time); a push answers 202 with
its run, which shows the push's progress and per-company results while it runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from meterbridge.services import notify, push, runs
from meterbridge.services.live import LiveRun
from meterbridge.services.notify import deliver_quietly
from meterbridge.services.results import company_results_live
from meterbridge.services.views import (
    ChangesPage,
    CompanyResult,
    ProgressView,
    RunLive,
    RunOutcome,
    RunStatus,
    RunView,
    View,
)
from meterbridge.web.api.bodies import MAX_ID, IdPath, PreviewIn, PushIn
from meterbridge.web.background import Background
from meterbridge.web.deps import Billing, TenantCall, Viewer
from meterbridge.web.errors import ErrorBody
from meterbridge.web.idempotent import KEY_HELP, once

router = APIRouter(tags=["previews, pushes and runs"])
KeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", description=KEY_HELP)]


def _scope(customers: list[str] | None) -> frozenset[str] | None:
    return frozenset(customers) if customers else None


@router.post("/previews", response_model=RunOutcome, status_code=201)
async def create_preview(call: Billing, body: PreviewIn) -> RunOutcome:
    """Plan a period against what ConnectWise holds now; nothing is written to ConnectWise. The
    changes are at /runs/{run}/changes."""
    outcome = await push.preview(call.ctx, call.tenant, body.period, only=_scope(body.customers), actor=call.actor)
    return RunOutcome.model_validate(outcome.model_dump())


def _live_view(call: TenantCall, background: Background, run_id: IdPath) -> RunLive:
    head = runs.show_run_head(call.ctx, call.tenant, run_id)
    live = background.live.get(run_id)
    if live is None or live.finished or head.status is not RunStatus.RUNNING:  # the run record has the final word
        companies = {c: CompanyResult.model_validate(r) for c, r in (head.summary.get("companies") or {}).items()}
        sent = notify.of_run(call.ctx, call.tenant, run_id)
        return RunLive(**head.model_dump(), companies=companies, notifications=sent)
    return RunLive(
        **head.model_dump(),
        progress=ProgressView(done=live.done, total=live.total),
        companies=company_results_live(live.applied),
    )


@router.post(
    "/pushes",
    response_model=RunLive,
    status_code=202,
    responses={409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def start_push(call: Billing, body: PushIn, request: Request, key: KeyHeader = None) -> JSONResponse:
    """Start a push of the reviewed plan (``checksum``) or of what is planned now (``force``). The
    companies a safety threshold holds are written only with ``approve_held`` and a checksum (the
    plan's: every held company; a company's own, with ``customers`` naming it: that one). The
    answer (202) is the run; follow it at /runs/{run}. A held lease, a wrong period or a missing
    approval answer at once."""
    background: Background = request.app.state.background

    async def work() -> View:
        async def run(live: LiveRun) -> RunOutcome:
            try:
                return await push.push(
                    call.ctx,
                    call.tenant,
                    body.period,
                    checksum=body.checksum,
                    force=body.force,
                    wait_seconds=body.wait_seconds,
                    only=_scope(body.customers),
                    actor=call.actor,
                    live=live,
                    approve_held=body.approve_held,
                )
            finally:
                await deliver_quietly(call.ctx, call.tenant)

        run_id = await background.start(run)
        return _live_view(call, background, run_id)

    def location(view: View) -> dict[str, str]:
        assert isinstance(view, RunLive)
        return {"Location": f"/api/v1/tenants/{call.tenant}/runs/{view.id}"}

    return await once(call, request, body.model_dump(mode="json"), 202, work, location)


@router.get("/runs", response_model=list[RunView])
def list_runs(
    call: Viewer,
    kind: Annotated[str | None, Query(description="preview, push or stats")] = None,
    status: Annotated[str | None, Query()] = None,
    period: Annotated[str | None, Query()] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="runs older than this run id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[RunView]:
    """The history, newest first: who or which schedule, manual or automatic, status, totals."""
    return runs.list_runs(call.ctx, call.tenant, limit=limit, kind=kind, status=status, period=period, before=before)


@router.get("/runs.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_runs(
    call: Viewer,
    kind: Annotated[str | None, Query()] = None,
    period: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> Response:
    views = runs.list_runs(call.ctx, call.tenant, limit=limit, kind=kind, period=period, brief=True)
    return Response(
        runs.runs_csv(views),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="meterbridge-{call.tenant}-runs.csv"'},
    )


@router.get("/runs/{run_id}", response_model=RunLive)
def get_run(call: Viewer, run_id: IdPath, request: Request) -> RunLive:
    """A run; while its push runs, how far it got and what landed or failed so far."""
    return _live_view(call, request.app.state.background, run_id)


@router.get("/runs/{run_id}/changes", response_model=ChangesPage)
def run_changes(
    call: Viewer,
    run_id: IdPath,
    customer: Annotated[str | None, Query(description="only this company (customer)")] = None,
    kind: Annotated[str | None, Query(description="create, update, cancel, noop or blocked")] = None,
    status: Annotated[str | None, Query(description="after a push: done, failed or skipped")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ChangesPage:
    """The run's changes in plan order, each with its explanation (usage -> unit -> ... -> price)."""
    return runs.run_changes(
        call.ctx, call.tenant, run_id, customer=customer, kind=kind, status=status, offset=offset, limit=limit
    )
