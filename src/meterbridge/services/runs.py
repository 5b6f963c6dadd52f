"""Runs (previews, pushes, Backup Stats) and their plan items: stored as they happen, listed and shown later."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from meterbridge.connectwise.models import Addition
from meterbridge.connectwise.stats import CallStats
from meterbridge.domain.plan import Change, ChangeKind, Plan
from meterbridge.services.actors import Actor
from meterbridge.services.audit import audit
from meterbridge.services.context import Context
from meterbridge.services.csvsafe import csv_text
from meterbridge.services.errors import InvalidInput, NotFound, ServiceError
from meterbridge.services.lease import holder_is_dead
from meterbridge.services.scope import parse_period, tenant_row
from meterbridge.services.views import (
    AdditionState,
    ChangesPage,
    ChangeView,
    JournalTally,
    NotificationView,
    PlanItemView,
    RunDetail,
    RunKind,
    RunStatus,
    RunView,
)
from meterbridge.store.models import Lease, NotificationRow, PlanItem, Run
from meterbridge.store.repos import notifications, runs


def start_run(
    ctx: Context, tenant_id: int, period: str, kind: RunKind, *, actor: Actor, detail: dict[str, Any] | None = None
) -> int:
    """A new run; a push or a Backup Stats publish (they write to ConnectWise) is in the audit log
    too, with ``detail`` (what approved it; ``customers``: the customers it is limited to, which its
    summary keeps as ``scope``)."""
    scope = list((detail or {}).get("customers") or ())
    with ctx.db.session() as session:
        run_id = runs.add(
            session,
            tenant_id,
            period=period,
            kind=kind.value,
            trigger=actor.trigger,
            started_by=str(actor),
            at=ctx.clock(),
            summary={"scope": scope} if scope else None,
        )
        if kind is not RunKind.PREVIEW:
            audit(
                session,
                ctx,
                tenant_id,
                actor,
                f"{kind.value}.start",
                {"run": run_id, "period": period, **(detail or {})},
            )
        return run_id


def held_state(addition: Addition) -> AdditionState:
    """An addition's billing fields as ConnectWise answered them."""
    return AdditionState(
        quantity=addition.quantity if addition.quantity is not None else Decimal(0),
        unit_price=addition.unit_price,
        unit_cost=addition.unit_cost,
        bill_customer=addition.bill_customer or "",
        effective=addition.effective_date.date() if addition.effective_date else None,
        cancelled=addition.cancelled_date.date() if addition.cancelled_date else None,
    )


def store_plan(
    session: Session,
    run_id: int,
    plan: Plan,
    actions: dict[str, tuple[str, dict[str, str]]] | None = None,
    start: int = 0,
    read: Callable[[int], tuple[int, Addition]] | None = None,
) -> None:
    """The plan's changes as the run's items (``start``: the position of its first, for a plan
    stored a chunk at a time); ``read``: the additions the plan was made from, by id (its agreement
    and the addition; KeyError for one not read), so each item keeps the addition it changes as held."""

    def held(change: Change) -> AdditionState | None:
        if read is None or change.addition_id is None:
            return None
        try:
            return held_state(read(change.addition_id)[1])
        except KeyError:
            return None

    runs.add_items(
        session,
        (
            {
                "run_id": run_id,
                "position": position,
                "line_key": change.key,
                "kind": change.kind.value,
                "customer": change.customer,
                "payload": ChangeView.of(change, (actions or {}).get(change.key), held(change)).json_data(),
                "status": None,
            }
            for position, change in enumerate(plan.changes, start)
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


def error_summary(error: BaseException, kind: str = "internal") -> dict[str, Any]:
    """A run's summary when it stopped: its error as the API would answer it."""
    if isinstance(error, ServiceError):
        return {"error": error.as_data()}
    return {"error": {"kind": kind, "message": str(error) or type(error).__name__}}


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
    values: dict[str, Any] = {"status": status.value, "finished_at": ctx.clock()}
    if stats is not None:
        values["calls"] = calls_of(stats)
    if checksum is not None:
        values["checksum"] = checksum
    if verdict is not None:
        values["verdict"] = verdict
    with ctx.db.session() as session:
        scope = runs.summary_part(session, run_id, "scope")  # what start_run recorded stays
        values["summary"] = {**summary, "scope": scope} if scope else summary
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


LEASED = (RunKind.PUSH.value, RunKind.STATS.value)  # the runs that hold the tenant's lease while they run


def settle_dead_runs(ctx: Context, tenant_id: int | None = None) -> list[int]:
    """Pushes and Backup Stats runs whose record says running but whose process is gone: the
    tenant's lease is free, ran out, or is held by a process gone from this machine, so nothing
    runs them any more. They are marked interrupted (with what their journal says they wrote), so
    every screen, an idempotent replay and the history say so. Called wherever runs are read and
    when ``meterbridge serve`` starts. Returns their ids."""
    now = ctx.clock()
    settled: list[int] = []
    with ctx.db.session() as session:
        for run in runs.running(session, LEASED, tenant_id):
            lease = session.get(Lease, run.tenant_id)
            if (
                lease is not None
                and lease.holder is not None
                and lease.expires_at is not None
                and lease.expires_at > now
                and not holder_is_dead(lease.holder)
            ):
                continue  # its lease is held: it is running (or it will find out at its next fence)
            landed, unsettled = runs.journal_counts(session, run.id)
            run.status = RunStatus.INTERRUPTED.value
            run.finished_at = now
            run.summary = {
                **(run.summary or {}),
                "interrupted": {
                    "writes_landed": landed,
                    "writes_unsettled": unsettled,
                    "resumed_by_run": None,
                    "found": "its process is gone (the tenant's lease is no longer held); the next push of the "
                    "period checks its unfinished writes against ConnectWise and completes it",
                },
            }
            settled.append(run.id)
    return settled


def approved_writes(ctx: Context, tenant_id: int, period: str, checksum: str) -> set[str] | None:
    """The digests of the writes of the newest run of ``period`` whose plan has ``checksum``
    (None: no such plan was ever made)."""
    with ctx.db.session() as session:
        run_id = runs.newest_with_checksum(session, tenant_id, period, checksum)
        if run_id is None:
            return None
        writes = runs.payloads(session, run_id, writes_only=True)
        return {str(payload["digest"]) for payload in writes if "digest" in payload}


def stored_changes(ctx: Context, run_id: int, *, drift_only: bool = False) -> list[ChangeView]:
    """A run's changes as it stored them, in the plan's order (what a front-end lists of a
    preview); ``drift_only``: those on an addition edited in ConnectWise since meterbridge wrote it."""
    with ctx.db.session() as session:
        return [
            ChangeView.model_validate(payload)
            for payload in runs.payloads(session, run_id)
            if payload.get("drift") or not drift_only
        ]


def run_view(run: Run, summary: dict[str, Any] | None = None) -> RunView:
    """A run as a view (``summary``: the parts of its summary already read, instead of the whole)."""
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
        summary=dict(run.summary or {}) if summary is None else summary,
        calls=dict(run.calls or {}),
    )


def list_runs(
    ctx: Context,
    tenant: str,
    *,
    limit: int = 20,
    kind: str | None = None,
    status: str | None = None,
    period: str | None = None,
    before: int | None = None,
    brief: bool = False,
) -> list[RunView]:
    """The newest runs first; filtered by kind, status and period; ``before`` pages back from a run id.
    ``brief``: each summary without its per-company results (a history of big pushes, fast)."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit: list 1 to 1000 runs", field="limit")
    for name, value, allowed in (("kind", kind, RunKind), ("status", status, RunStatus)):
        if value is not None and value not in {m.value for m in allowed}:
            raise InvalidInput(f"{name}: {value!r} is not one of {', '.join(m.value for m in allowed)}", field=name)
    if period is not None:
        parse_period(period)
    with ctx.db.session() as session:
        tenant_id = tenant_row(session, tenant).id
    settle_dead_runs(ctx, tenant_id)  # a run whose process is gone is shown interrupted, not running
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        filters: dict[str, Any] = {"kind": kind, "status": status, "period": period, "before": before}
        if brief:
            found = runs.newest_brief(session, row.id, limit=limit, **filters)
            return with_journal(session, [run_view(run, summary) for run, summary in found])
        return with_journal(session, [run_view(run) for run in runs.newest(session, row.id, limit=limit, **filters)])


def with_journal(session: Session, views: list[RunView]) -> list[RunView]:
    """The runs that write to ConnectWise but have no totals (interrupted, failed, still running),
    each with what its journal says it wrote."""
    untotalled = [v.id for v in views if v.kind.value in LEASED and "counts" not in v.summary]
    tallies = runs.journal_tallies(session, untotalled)
    for view in views:
        tally = tallies.get(view.id)
        if tally is not None:
            landed, failed, unsettled = tally
            view.journal = JournalTally(landed=dict(sorted(landed.items())), failed=failed, unsettled=unsettled)
    return views


def run_changes(
    ctx: Context,
    tenant: str,
    run_id: int,
    *,
    customer: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> ChangesPage:
    """A page of a run's changes (with their explanations), filtered by company, change kind and status."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidInput("limit: 1 to 1000 changes a page, from an offset of 0 or more", field="limit")
    if kind is not None and kind not in {k.value for k in ChangeKind}:
        raise InvalidInput(f"kind: {kind!r} is not one of {', '.join(k.value for k in ChangeKind)}", field="kind")
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        if runs.get(session, row.id, run_id) is None:
            raise NotFound(f"run {run_id} does not exist", field="run")
        items, total = runs.items_page(
            session, run_id, customer=customer, kind=kind, status=status, offset=offset, limit=limit
        )
        return ChangesPage(items=[plan_item_view(item) for item in items], total=total, offset=offset, limit=limit)


CSV_FIELDS = ("id", "period", "kind", "trigger", "started_by", "started_at", "finished_at", "status", "checksum")


def runs_csv(views: list[RunView]) -> str:
    """The history as CSV (one run a line, money totals and writes included), formula-safe (csvsafe)."""
    rows: list[list[object]] = [
        [*CSV_FIELDS, "writes_planned", "writes_landed", "writes_failed", "billed_before", "billed_after"]
    ]
    for view in views:
        data = view.model_dump(mode="json")
        totals = view.summary.get("totals") or {}
        writes = totals.get("writes") or {}
        rows.append(
            [
                *(data[name] for name in CSV_FIELDS),
                writes.get("planned"),
                writes.get("landed"),
                writes.get("failed"),
                totals.get("billed_before"),
                totals.get("billed_after"),
            ]
        )
    return csv_text(rows)


def settled_if_running(ctx: Context, tenant: str, run_id: int) -> None:
    """Settle the tenant's dead runs when ``run_id`` is one its record says is running."""
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        run = runs.get(session, row.id, run_id)
        tenant_id = row.id if run is not None and run.status == RunStatus.RUNNING.value else None
    if tenant_id is not None:
        settle_dead_runs(ctx, tenant_id)


def show_run(ctx: Context, tenant: str, run_id: int) -> RunDetail:
    settled_if_running(ctx, tenant, run_id)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        run = runs.get(session, row.id, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist", hint="list the runs to see them", field="run")
        items = [plan_item_view(item) for item in runs.items(session, run_id)]
        sent = [notification_view(n) for n in notifications.of_run(session, row.id, run_id)]
        [head] = with_journal(session, [run_view(run)])
        return RunDetail(**head.model_dump(), items=items, notifications=sent)


def show_run_head(ctx: Context, tenant: str, run_id: int) -> RunView:
    """A run without its plan items (those are paged: ``run_changes``)."""
    settled_if_running(ctx, tenant, run_id)
    with ctx.db.session() as session:
        row = tenant_row(session, tenant)
        run = runs.get(session, row.id, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist", hint="list the runs to see them", field="run")
        return run_view(run)


def plan_item_view(item: PlanItem) -> PlanItemView:
    return PlanItemView.model_validate({**item.payload, "status": item.status, "error": item.error})


def notification_view(row: NotificationRow) -> NotificationView:
    return NotificationView(
        id=row.id,
        run=row.run_id,
        event=row.event,
        channel=row.channel,
        target=row.target,
        subject=row.subject,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )
