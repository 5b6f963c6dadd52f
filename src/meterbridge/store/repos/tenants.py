"""Tenants, their lease row and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterbridge.store.models import AuditEntry, Lease, Tenant


def by_key(session: Session, key: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.key == key))


def all_of(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.key)))


def add(session: Session, *, key: str, name: str, time_zone: str, at: datetime) -> Tenant:
    tenant = Tenant(key=key, name=name, time_zone=time_zone, created_at=at, settings={})
    session.add(tenant)
    session.flush()
    session.add(Lease(tenant_id=tenant.id, holder=None, token=0, expires_at=None))
    return tenant


def audit(
    session: Session, tenant_id: int | None, *, at: datetime, actor: str, action: str, detail: dict[str, Any]
) -> None:
    session.add(AuditEntry(tenant_id=tenant_id, at=at, actor=actor, action=action, detail=detail))


def audit_entries(session: Session, tenant_id: int, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
