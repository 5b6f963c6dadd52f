"""Schedules and their state; the one update that settles an occurrence (compare and set)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from meterbridge.store.models import ScheduleRow, Tenant


def of_tenant(session: Session, tenant_id: int) -> list[ScheduleRow]:
    return list(
        session.scalars(select(ScheduleRow).where(ScheduleRow.tenant_id == tenant_id).order_by(ScheduleRow.name))
    )


def by_name(session: Session, tenant_id: int, name: str) -> ScheduleRow | None:
    return session.scalar(select(ScheduleRow).where(ScheduleRow.tenant_id == tenant_id, ScheduleRow.name == name))


def by_id(session: Session, schedule_id: int) -> ScheduleRow | None:
    return session.get(ScheduleRow, schedule_id)


def enabled_with_tenants(session: Session) -> list[tuple[ScheduleRow, Tenant]]:
    """Every enabled schedule of every tenant, with its tenant (for the time zone)."""
    query = (
        select(ScheduleRow, Tenant)
        .join(Tenant, Tenant.id == ScheduleRow.tenant_id)
        .where(ScheduleRow.enabled.is_(True))
        .order_by(Tenant.key, ScheduleRow.name)
    )
    return [(row, tenant) for row, tenant in session.execute(query).all()]


def settle(session: Session, schedule_id: int, slot: datetime, values: dict[str, Any]) -> bool:
    """Record ``slot`` as settled unless a later or equal one already is: True when this did it."""
    result = session.execute(
        update(ScheduleRow)
        .where(
            ScheduleRow.id == schedule_id,
            or_(ScheduleRow.last_slot.is_(None), ScheduleRow.last_slot < slot),
        )
        .values(last_slot=slot, failures=0, retry_at=None, **values)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
