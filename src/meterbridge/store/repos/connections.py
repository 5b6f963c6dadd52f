"""The tenant's ConnectWise connection row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterbridge.store.models import Connection


def of_tenant(session: Session, tenant_id: int) -> Connection | None:
    return session.scalar(select(Connection).where(Connection.tenant_id == tenant_id))


def get_or_add(session: Session, tenant_id: int) -> Connection:
    connection = of_tenant(session, tenant_id)
    if connection is None:
        connection = Connection(tenant_id=tenant_id)
        session.add(connection)
    return connection
