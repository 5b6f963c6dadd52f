"""The write-ahead journal and the line identities (addition -> line key) its results record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from meterbridge.store.models import JournalEntry, LineIdentity


def add_intent(
    session: Session,
    tenant_id: int,
    *,
    run_id: int,
    sequence: int,
    line_key: str,
    action: str,
    intent: dict[str, Any],
    token: int,
    at: datetime,
) -> int:
    values = {
        "tenant_id": tenant_id,
        "run_id": run_id,
        "sequence": sequence,
        "line_key": line_key,
        "action": action,
        "intent": intent,
        "fencing_token": token,
        "intended_at": at,
    }
    entry_id: int = session.execute(insert(JournalEntry).values(values).returning(JournalEntry.id)).scalar_one()
    return entry_id


def complete(
    session: Session, entry_id: int, result: dict[str, Any], at: datetime, addition_id: int | None = None
) -> tuple[int, int]:
    """An intent's result (and the addition it landed), in one statement: (its run, its sequence)."""
    values: dict[str, Any] = {"result": result, "completed_at": at}
    if addition_id is not None:
        values["addition_id"] = addition_id
    query = (
        update(JournalEntry)
        .where(JournalEntry.id == entry_id)
        .values(values)
        .returning(JournalEntry.run_id, JournalEntry.sequence)
    )
    run_id, sequence = session.execute(query).one()
    return run_id, sequence


def open_intents(session: Session, tenant_id: int) -> list[JournalEntry]:
    query = select(JournalEntry).where(JournalEntry.tenant_id == tenant_id, JournalEntry.result.is_(None))
    return list(session.scalars(query.order_by(JournalEntry.id)))


def identities(session: Session, tenant_id: int) -> list[LineIdentity]:
    return list(session.scalars(select(LineIdentity).where(LineIdentity.tenant_id == tenant_id)))


def owned_addition_ids(session: Session, tenant_id: int) -> set[int]:
    return set(session.scalars(select(LineIdentity.addition_id).where(LineIdentity.tenant_id == tenant_id)))


def identity_of(session: Session, tenant_id: int, addition_id: int) -> LineIdentity | None:
    return session.scalar(
        select(LineIdentity).where(LineIdentity.tenant_id == tenant_id, LineIdentity.addition_id == addition_id)
    )


def add_identity(session: Session, tenant_id: int, line_key: str, *, adopted: bool) -> LineIdentity:
    identity = LineIdentity(tenant_id=tenant_id, line_key=line_key, adopted=adopted)
    session.add(identity)
    return identity


def hold_period(session: Session, tenant_id: int, addition_ids: list[int], period: str) -> None:
    """These additions hold ``period`` now (only ever moving forward)."""
    for start in range(0, len(addition_ids), 500):
        session.execute(
            update(LineIdentity)
            .where(
                LineIdentity.tenant_id == tenant_id,
                LineIdentity.addition_id.in_(addition_ids[start : start + 500]),
                (LineIdentity.last_period.is_(None)) | (LineIdentity.last_period < period),
            )
            .values(last_period=period)
        )
