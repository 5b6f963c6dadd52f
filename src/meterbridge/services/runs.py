"""Runs (previews and pushes) and their plan items: stored as they happen, listed and shown later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from meterbridge.connectwise.stats import CallStats
from meterbridge.domain.plan import Plan
from meterbridge.services.context import Context
from meterbridge.services.errors import NotFound
from meterbridge.services.records import change_payload
from meterbridge.services.tenants import tenant_row
from meterbridge.store.models import JournalEntry, PlanItem, Run


def start_run(ctx: Context, tenant_id: int, period: str, kind: str, *, trigger: str, started_by: str) -> int:
    with ctx.db.session() as session:
        run = Run(
            tenant_id=tenant_id,
            period=period,
            kind=kind,
            trigger=trigger,
            started_by=started_by,
            started_at=ctx.clock(),
            status="running",
            summary={},
            calls={},
        )
        session.add(run)
        session.flush()
        return run.id


def store_plan(session: Session, run_id: int, plan: Plan) -> None:
    session.add_all(
        PlanItem(
            run_id=run_id,
            position=position,
            line_key=change.key,
            kind=change.kind.value,
            customer=change.customer,
            payload=change_payload(change),
            status=None,
        )
        for position, change in enumerate(plan.changes)
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
    status: str,
    summary: dict[str, Any],
    stats: CallStats | None = None,
    checksum: str | None = None,
    verdict: str | None = None,
) -> None:
    with ctx.db.session() as session:
        values: dict[str, Any] = {"status": status, "summary": summary, "finished_at": ctx.clock()}
        if stats is not None:
            values["calls"] = calls_of(stats)
        if checksum is not None:
            values["checksum"] = checksum
        if verdict is not None:
            values["verdict"] = verdict
        session.execute(update(Run).where(Run.id == run_id).values(**values))


def mark_interrupted(ctx: Context, tenant_id: int, by_run: int) -> list[int]:
    """Runs that hold the lease (pushes, Backup Stats) left "running" by a process that died: marked
    interrupted, with what their journal says they wrote. Called by the holder of the tenant's
    lease, so no other such run can still be going. Returns their ids."""
    with ctx.db.session() as session:
        dead = list(
            session.scalars(
                select(Run).where(
                    Run.tenant_id == tenant_id,
                    Run.kind.in_(("push", "stats")),
                    Run.status == "running",
                    Run.id != by_run,
                )
            )
        )
        for run in dead:
            entries = session.execute(
                select(JournalEntry.addition_id.is_not(None), JournalEntry.result.is_(None), func.count())
                .where(JournalEntry.run_id == run.id)
                .group_by(JournalEntry.addition_id.is_not(None), JournalEntry.result.is_(None))
            ).all()
            landed = sum(n for wrote, _, n in entries if wrote)
            unsettled = sum(n for wrote, open_, n in entries if not wrote and open_)
            run.status = "interrupted"
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
        run_id = session.scalar(
            select(Run.id)
            .where(Run.tenant_id == tenant_id, Run.period == period, Run.checksum == checksum)
            .order_by(Run.id.desc())
            .limit(1)
        )
        if run_id is None:
            return None
        items = session.scalars(
            select(PlanItem).where(PlanItem.run_id == run_id, PlanItem.kind.in_(("create", "update", "cancel")))
        )
        return {str(item.payload["digest"]) for item in items if "digest" in item.payload}


@dataclass(frozen=True)
class RunView:
    id: int
    period: str
    kind: str
    trigger: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    checksum: str | None
    verdict: str | None
    summary: dict[str, Any]
    calls: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "period": self.period,
            "kind": self.kind,
            "trigger": self.trigger,
            "started_by": self.started_by,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "checksum": self.checksum,
            "verdict": self.verdict,
            "summary": self.summary,
            "calls": self.calls,
        }


def _view(run: Run) -> RunView:
    return RunView(
        run.id,
        run.period,
        run.kind,
        run.trigger,
        run.started_by,
        run.started_at,
        run.finished_at,
        run.status,
        run.checksum,
        run.verdict,
        dict(run.summary or {}),
        dict(run.calls or {}),
    )


def list_runs(ctx: Context, tenant: str, *, limit: int = 20) -> list[RunView]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        runs = session.scalars(select(Run).where(Run.tenant_id == row.id).order_by(Run.id.desc()).limit(limit))
        return [_view(run) for run in runs]


def show_run(ctx: Context, tenant: str, run_id: int) -> tuple[RunView, list[dict[str, Any]]]:
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        run = session.scalar(select(Run).where(Run.tenant_id == row.id, Run.id == run_id))
        if run is None:
            raise NotFound(f"run {run_id} does not exist: `meterbridge runs list` shows the runs")
        items = session.scalars(select(PlanItem).where(PlanItem.run_id == run_id).order_by(PlanItem.position))
        return _view(run), [{**item.payload, "status": item.status, "error": item.error} for item in items]
