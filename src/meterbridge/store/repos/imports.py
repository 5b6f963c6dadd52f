"""Usage imports and the rows they refused; usage sources (pulls)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from meterbridge.store.models import UsageImportError, UsageImportRow, UsageSourceRow


def add(session: Session, **values: Any) -> UsageImportRow:
    row = UsageImportRow(counts={}, details={}, **values)
    session.add(row)
    session.flush()
    return row


def get(session: Session, tenant_id: int, import_id: int) -> UsageImportRow | None:
    row = session.get(UsageImportRow, import_id)
    return row if row is not None and row.tenant_id == tenant_id else None


def newest(session: Session, tenant_id: int, *, source: str | None = None, limit: int = 50) -> list[UsageImportRow]:
    query = select(UsageImportRow).where(UsageImportRow.tenant_id == tenant_id)
    if source is not None:
        query = query.where(UsageImportRow.source == source)
    return list(session.scalars(query.order_by(UsageImportRow.id.desc()).limit(limit)))


def add_errors(session: Session, import_id: int, errors: Sequence[dict[str, Any]]) -> None:
    if errors:
        session.execute(insert(UsageImportError), [{"import_id": import_id, **e} for e in errors])


def errors_of(session: Session, import_id: int, *, limit: int | None = None) -> Iterator[UsageImportError]:
    query = select(UsageImportError).where(UsageImportError.import_id == import_id).order_by(UsageImportError.id)
    if limit is not None:
        query = query.limit(limit)
    yield from session.scalars(query)


def sources(session: Session, tenant_id: int) -> list[UsageSourceRow]:
    return list(
        session.scalars(
            select(UsageSourceRow).where(UsageSourceRow.tenant_id == tenant_id).order_by(UsageSourceRow.name)
        )
    )


def source(session: Session, tenant_id: int, name: str) -> UsageSourceRow | None:
    return session.scalar(
        select(UsageSourceRow).where(UsageSourceRow.tenant_id == tenant_id, UsageSourceRow.name == name)
    )


def all_sources(session: Session) -> list[UsageSourceRow]:
    return list(session.scalars(select(UsageSourceRow).where(UsageSourceRow.enabled.is_(True))))
