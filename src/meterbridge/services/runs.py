"""Runs (previews, pushes, Backup Stats) and their plan items: stored as they happen, listed and shown later."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from meterbridge.connectwise.stats import CallStats
from meterbridge.domain.plan import Plan
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.services.errors import NotFound
from meterbridge.services.scope import tenant_row
from meterbridge.services.views import ChangeView, PlanItemView, RunDetail, RunKind, RunStatus, RunView
from meterbridge.store.models import PlanItem, Run
from meterbridge.store.repos import runs


def start_run(ctx: Context, tenant_id: int, period: str, kind: RunKind, *, actor: Actor) -> int:
    with ctx.db.session() as session:
        return runs.add(
            session,
            tenant_id,
            period=period,
            kind=kind.value,
            trigger=actor.trigger,
            started_by=str(actor),
            at=ctx.clock(),
        )


def store_plan(session: Session, run_id: int, plan: Plan) -> None:
    runs.add_items(
        session,
        (
            PlanItem(
                run_id=run_id,
                position=position,
                line_key=change.key,
                kind=change.kind.value,
                customer=change.customer,
                payload=ChangeView.of(change).json_data(),
                status=None,
            )
            for position, change in enumerate(plan.changes)
        ),
    )


def calls_of(stats: CallStats) -> dict[str, Any]:
    endpoints = {
        name: {
            "calls": s.calls,
            "retries": s.retries,
            "rate_limited": s.rate_limited,
            "failures": s.failures,
            "seconds": round(s.seconds, 3),
        }
        for name, s in sorted(stats.endpoints.items())
    }
    return {"total": sum(e["calls"] for e in endpoints.values()), "endpoints": endpoints}


def finish_run(
    ctx: Context,
    run_id: int,
    *,
    status: RunStatus,
    summary: dict[str, Any],
    stats: CallStats | None = None,
    checksum: str | None = None,
    verdict: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status.value, "summary": summary, "finished_at": ctx.clock()}
    if stats is not None:
        values["calls"] = calls_of(stats)
    if checksum is not None:
        values["checksum"] = checksum
    if verdict is not None:
        values["verdict"] = verdict
    with ctx.db.session() as session:
        runs.finish(session, run_id, values)


def mark_interrupted(ctx: Context, tenant_id: int, by_run: int) -> list[int]:
    """Runs that hold the lease (pushes, Backup Stats) left "running" by a process that died: marked
    interrupted, with what their journal says they wrote. Called by the holder of the tenant's
    lease, so no other such run can still be going. Returns their ids."""
    with ctx.db.session() as session:
        dead = runs.left_running(session, tenant_id, (RunKind.PUSH.value, RunKind.STATS.value), but=by_run)
        for run in dead:
            landed, unsettled = runs.journal_counts(session, run.id)
            run.status = RunStatus.INTERRUPTED.value
            run.finished_at = ctx.clock()
            run.summary = {
                **(run.summary or {}),
                "interrupted": {"writes_landed": landed, "writes_unsettled": unsettled, "resumed_by_run": by_run},
            }
        return [run.id for run in dead]


def approved_writes(ctx: Context, tenant_id: int, period: str, checksum: str) -> set[str] | None:
    """The digests of the writes of the newest run of ``period`` whose plan has ``checksum``
    (None: no such plan was ever made)."""
    with ctx.db.session() as session:
        run_id = runs.newest_with_checksum(session, tenant_id, period, checksum)
        if run_id is None:
            return None
        items = runs.items(session, run_id, writes_only=True)
        return {str(item.payload["digest"]) for item in items if "digest" in item.payload}


def _view(run: Run) -> RunView:
    return RunView(
        id=run.id,
        period=run.period,
        kind=RunKind(run.kind),
        trigger=run.trigger,
        started_by=run.started_by,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status=RunStatus(run.status),
        checksum=run.checksum,
        verdict=run.verdict,
        summary=dict(run.summary or {}),
        calls=dict(run.calls or {}),
    )


def list_runs(ctx: Context, tenant: str, *, limit: int = 20) -> list[RunView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        return [_view(run) for run in runs.newest(session, row.id, limit=limit)]


def show_run(ctx: Context, tenant: str, run_id: int) -> RunDetail:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        run = runs.get(session, row.id, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist", hint="list the runs to see them", field="run")
        items = [
            PlanItemView.model_validate({**item.payload, "status": item.status, "error": item.error})
            for item in runs.items(session, run_id)
        ]
        return RunDetail(**_view(run).model_dump(), items=items)
