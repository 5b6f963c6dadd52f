"""The write-ahead journal and the line identities (addition -> line key) its results record.

A push journals every write it makes (an intent before, a result after, the identity of what
landed): those statements are built once, on the tables, and executed with each write's
values; building them per write, through the ORM's bulk paths, cost more CPU than the database.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Executable, Table, and_, bindparam, case, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meterbridge.store.models import JournalEntry, LineIdentity

_ENTRY_TABLE = cast(Table, JournalEntry.__table__)
_IDENTITY_TABLE = cast(Table, LineIdentity.__table__)
_ENTRIES, _IDENTITIES = _ENTRY_TABLE.c, _IDENTITY_TABLE.c
_ADD_INTENT = insert(_ENTRY_TABLE).returning(_ENTRIES.id)
_COMPLETE = (
    update(_ENTRY_TABLE)
    .where(_ENTRIES.id == bindparam("entry_id"))
    .values(result=bindparam("the_result"), completed_at=bindparam("at"))
    .returning(_ENTRIES.run_id, _ENTRIES.sequence)
)
_COMPLETE_LANDED = _COMPLETE.values(addition_id=bindparam("landed"))


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
    entry_id: int = session.execute(_ADD_INTENT, values).scalar_one()
    return entry_id


def complete(
    session: Session, entry_id: int, result: dict[str, Any], at: datetime, addition_id: int | None = None
) -> tuple[int, int]:
    """An intent's result (and the addition it landed), in one statement: (its run, its sequence)."""
    values: dict[str, Any] = {"entry_id": entry_id, "the_result": result, "at": at}
    if addition_id is not None:
        values["landed"] = addition_id
    statement = _COMPLETE if addition_id is None else _COMPLETE_LANDED
    run_id, sequence = session.execute(statement, values).one()
    return run_id, sequence


def open_intents(session: Session, tenant_id: int) -> list[JournalEntry]:
    query = select(JournalEntry).where(JournalEntry.tenant_id == tenant_id, JournalEntry.result.is_(None))
    return list(session.scalars(query.order_by(JournalEntry.id)))


def identities(session: Session, tenant_id: int) -> list[LineIdentity]:
    return list(session.scalars(select(LineIdentity).where(LineIdentity.tenant_id == tenant_id)))


def owned_addition_ids(session: Session, tenant_id: int) -> set[int]:
    return set(session.scalars(select(LineIdentity.addition_id).where(LineIdentity.tenant_id == tenant_id)))


def remember(
    session: Session,
    tenant_id: int,
    *,
    line_key: str,
    agreement_id: int,
    addition_id: int,
    last_written: datetime,
    adopted: bool,
    period: str | None,
) -> None:
    """The addition's identity, in one statement: inserted, or (an addition already owned) its line,
    agreement and last write set, ``adopted`` kept, and its period moved forward only (``period``
    None: kept). A push remembers every write that lands, on the journal's thread."""
    values = {
        "tenant_id": tenant_id,
        "line_key": line_key,
        "agreement_id": agreement_id,
        "addition_id": addition_id,
        "adopted": adopted,
        "last_written": last_written,
        "last_period": period,
    }
    session.execute(_remember(session.get_bind().dialect.name), values)


@cache
def _remember(dialect: str) -> Executable:
    """The identity upsert, in the dialect's own ``INSERT ... ON CONFLICT`` (SQLite and PostgreSQL)."""
    insert_of = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_of(_IDENTITY_TABLE)
    new, held = statement.excluded.last_period, _IDENTITIES.last_period
    forward = and_(new.is_not(None), or_(held.is_(None), new > held))
    return statement.on_conflict_do_update(
        index_elements=[_IDENTITIES.tenant_id, _IDENTITIES.addition_id],
        set_={
            "line_key": statement.excluded.line_key,
            "agreement_id": statement.excluded.agreement_id,
            "last_written": statement.excluded.last_written,
            "last_period": case((forward, new), else_=held),
        },
    )


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
