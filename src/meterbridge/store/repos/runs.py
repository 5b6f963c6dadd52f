"""Runs (previews, pushes, Backup Stats) and their plan items."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, defer

from meterbridge.store.models import JournalEntry, NotificationRow, PlanItem, Run

WRITE_KINDS = ("create", "update", "cancel")


def add(
    session: Session,
    tenant_id: int,
    *,
    period: str,
    kind: str,
    trigger: str,
    started_by: str,
    at: datetime,
    summary: dict[str, Any] | None = None,
) -> int:
    run = Run(
        tenant_id=tenant_id,
        period=period,
        kind=kind,
        trigger=trigger,
        started_by=started_by,
        started_at=at,
        status="running",
        summary=summary or {},
        calls={},
    )
    session.add(run)
    session.flush()
    return run.id


def finish(session: Session, run_id: int, values: dict[str, Any]) -> None:
    session.execute(update(Run).where(Run.id == run_id).values(**values))


def summary_part(session: Session, run_id: int, name: str) -> Any:
    """One part of a run's summary (None when it has none)."""
    return session.scalar(select(Run.summary[name]).where(Run.id == run_id))


def get(session: Session, tenant_id: int, run_id: int) -> Run | None:
    return session.scalar(select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id))


def newest(
    session: Session,
    tenant_id: int,
    *,
    limit: int,
    kind: str | None = None,
    status: str | None = None,
    period: str | None = None,
    before: int | None = None,
) -> list[Run]:
    """The newest runs first, filtered; ``before`` pages back from a run id."""
    query = _filtered(select(Run), tenant_id, kind, status, period, before)
    return list(session.scalars(query.order_by(Run.id.desc()).limit(limit)))


def _filtered(
    query: Select[Any], tenant_id: int, kind: str | None, status: str | None, period: str | None, before: int | None
) -> Select[Any]:
    query = query.where(Run.tenant_id == tenant_id)
    for column, value in ((Run.kind, kind), (Run.status, status), (Run.period, period)):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        query = query.where(Run.id < before)
    return query


def running(session: Session, kinds: tuple[str, ...], tenant_id: int | None = None) -> list[Run]:
    """Runs of ``kinds`` whose record says running (of one tenant, or of every one)."""
    query = select(Run).where(Run.kind.in_(kinds), Run.status == "running")
    if tenant_id is not None:
        query = query.where(Run.tenant_id == tenant_id)
    return list(session.scalars(query.order_by(Run.id)))


def left_running(session: Session, tenant_id: int, kinds: tuple[str, ...], *, but: int) -> list[Run]:
    query = select(Run).where(Run.tenant_id == tenant_id, Run.kind.in_(kinds), Run.status == "running", Run.id != but)
    return list(session.scalars(query))


def journal_counts(session: Session, run_id: int) -> tuple[int, int]:
    """(writes that landed, intents still without a result) of a run's journal."""
    landed, _failed, unsettled = journal_tallies(session, [run_id]).get(run_id, ({}, 0, 0))
    return sum(landed.values()), unsettled


def journal_tallies(session: Session, run_ids: Collection[int]) -> dict[int, tuple[dict[str, int], int, int]]:
    """Per run, what its journal says it wrote: (landed writes by action, writes that failed,
    intents without a result)."""
    tallies: dict[int, tuple[dict[str, int], int, int]] = {}
    if not run_ids:
        return tallies
    rows = session.execute(
        select(
            JournalEntry.run_id,
            JournalEntry.action,
            JournalEntry.addition_id.is_not(None),
            JournalEntry.result.is_(None),
            func.count(),
        )
        .where(JournalEntry.run_id.in_(list(run_ids)))
        .group_by(
            JournalEntry.run_id,
            JournalEntry.action,
            JournalEntry.addition_id.is_not(None),
            JournalEntry.result.is_(None),
        )
    )
    for run_id, action, wrote, open_, n in rows:
        landed, failed, unsettled = tallies.get(run_id, ({}, 0, 0))
        if wrote:
            landed[action] = landed.get(action, 0) + n
        elif open_:
            unsettled += n
        else:
            failed += n
        tallies[run_id] = (landed, failed, unsettled)
    return tallies


def journal_results(session: Session, run_id: int) -> dict[int, dict[str, Any]]:
    """The results of a run's writes, by their position in its plan."""
    query = select(JournalEntry.sequence, JournalEntry.result).where(
        JournalEntry.run_id == run_id, JournalEntry.result.is_not(None)
    )
    return {sequence: dict(result or {}) for sequence, result in session.execute(query)}


def newest_with_checksum(session: Session, tenant_id: int, period: str, checksum: str) -> int | None:
    return session.scalar(
        select(Run.id)
        .where(Run.tenant_id == tenant_id, Run.period == period, Run.checksum == checksum)
        .order_by(Run.id.desc())
        .limit(1)
    )


ITEM_BATCH = 2_000


def add_items(session: Session, items: Iterable[dict[str, Any]]) -> None:
    """A run's plan items (column values), inserted a batch at a time: no ORM object per item, and
    memory bounded by the batch, however long the plan."""
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == ITEM_BATCH:
            session.execute(insert(PlanItem), batch)
            batch = []
    if batch:
        session.execute(insert(PlanItem), batch)


def items(session: Session, run_id: int, *, writes_only: bool = False) -> list[PlanItem]:
    query = select(PlanItem).where(PlanItem.run_id == run_id)
    if writes_only:
        query = query.where(PlanItem.kind.in_(WRITE_KINDS))
    return list(session.scalars(query.order_by(PlanItem.position)))


def payloads(session: Session, run_id: int, *, writes_only: bool = False) -> Iterator[dict[str, Any]]:
    """The payloads of a run's items in the plan's order (``writes_only``: of its writes), a batch
    of rows at a time: a big plan is not loaded whole."""
    query = select(PlanItem.payload).where(PlanItem.run_id == run_id)
    if writes_only:
        query = query.where(PlanItem.kind.in_(WRITE_KINDS))
    yield from session.scalars(query.order_by(PlanItem.position).execution_options(yield_per=2000))


def items_page(
    session: Session,
    run_id: int,
    *,
    customer: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[PlanItem], int]:
    """One page of a run's plan items in plan order, and how many match the filters in all."""
    query = select(PlanItem).where(PlanItem.run_id == run_id)
    if customer is not None:
        query = query.where(PlanItem.customer == customer)
    if kind is not None:
        query = query.where(PlanItem.kind == kind)
    if status is not None:
        query = query.where(PlanItem.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(PlanItem.position).offset(offset).limit(limit))
    return list(page), total


def mark_item(
    session: Session, run_id: int, position: int, status: str, error: str | None = None, addition_id: int | None = None
) -> None:
    """A plan item's outcome; a create that landed also records the addition it made in its payload
    (once for every create that lands: on SQLite set by the database, ``json_set``, without reading
    the payload back; on PostgreSQL read and written back, as the column is ``json``, which only
    ``jsonb`` could edit in place, and jsonb would reorder its keys and refuse a NUL in a text)."""
    values = {"run": run_id, "position_of": position, "the_status": status, "the_error": error}
    if addition_id is None:
        session.execute(_MARK, values)
    elif session.get_bind().dialect.name == "sqlite":
        session.execute(_MARK_LANDED, {**values, "landed": addition_id})
    else:
        payload = session.execute(_PAYLOAD, values).scalar()
        if payload is not None:
            session.execute(_MARK_PAYLOAD, {**values, "the_payload": {**payload, "addition_id": addition_id}})


_ITEM_TABLE = cast(Table, PlanItem.__table__)
_ITEMS = _ITEM_TABLE.c
_THE_ITEM = (_ITEMS.run_id == bindparam("run"), _ITEMS.position == bindparam("position_of"))
_MARK = update(_ITEM_TABLE).where(*_THE_ITEM).values(status=bindparam("the_status"), error=bindparam("the_error"))
_MARK_LANDED = _MARK.values(payload=func.json_set(_ITEMS.payload, "$.addition_id", bindparam("landed", type_=Integer)))
_PAYLOAD = select(_ITEMS.payload).where(*_THE_ITEM)
_MARK_PAYLOAD = _MARK.values(payload=bindparam("the_payload"))


def first_write_of(session: Session, tenant_id: int, period: str) -> datetime | None:
    """When the first write of ``period`` landed in ConnectWise (None: it was never pushed)."""
    return session.scalar(
        select(func.min(JournalEntry.completed_at))
        .join(Run, Run.id == JournalEntry.run_id)
        .where(JournalEntry.tenant_id == tenant_id, Run.period == period, JournalEntry.addition_id.is_not(None))
    )


#: What a run's head carries of its summary (everything but the per-company results).
BRIEF = ("totals", "error", "safety_reasons", "counts")


def newest_brief(
    session: Session,
    tenant_id: int,
    *,
    limit: int,
    kind: str | None = None,
    status: str | None = None,
    period: str | None = None,
    before: int | None = None,
) -> list[tuple[Run, dict[str, Any]]]:
    """As ``newest``, without loading each summary whole (a push's holds every company): each run
    (its summary column not loaded) and the summary's BRIEF parts."""
    parts = [Run.summary[name] for name in BRIEF]
    query = _filtered(select(Run, *parts).options(defer(Run.summary)), tenant_id, kind, status, period, before)
    found = []
    for run, *values in session.execute(query.order_by(Run.id.desc()).limit(limit)):
        found.append((run, {name: value for name, value in zip(BRIEF, values, strict=True) if value is not None}))
    return found


def delete_if_unreferenced(session: Session, tenant_id: int, run_id: int) -> bool:
    """Delete a run (and its plan items) unless a notification was sent about it."""
    told = session.scalar(select(func.count()).select_from(NotificationRow).where(NotificationRow.run_id == run_id))
    run = get(session, tenant_id, run_id)
    if run is None or told:
        return False
    session.delete(run)
    return True
