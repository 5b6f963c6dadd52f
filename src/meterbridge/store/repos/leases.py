"""The tenant's lease row: who holds it, until when, and the fencing token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session

from meterbridge.store.models import Lease


def wait_for_locks_at_most(session: Session, seconds: int) -> None:
    """PostgreSQL: a statement of this transaction that waits on another's lock (a process paused
    inside a transaction on the lease row) fails after ``seconds`` instead of waiting for ever, as
    SQLite's busy timeout does."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = '{int(seconds)}s'"))


def get_or_add(session: Session, tenant_id: int) -> Lease:
    lease = session.get(Lease, tenant_id)
    if lease is None:
        session.add(Lease(tenant_id=tenant_id, holder=None, token=0, expires_at=None))
        session.flush()
        lease = session.get(Lease, tenant_id)
        assert lease is not None
    return lease


def take(
    session: Session, tenant_id: int, *, seen_token: int, seen_holder: str | None, holder: str, until: datetime
) -> bool:
    """Take the lease if it is still as it was seen (compare and set); the token grows by one."""
    result = session.execute(
        update(Lease)
        .where(
            Lease.tenant_id == tenant_id,
            Lease.token == seen_token,
            or_(Lease.holder.is_(None), Lease.holder == seen_holder),
        )
        .values(holder=holder, token=seen_token + 1, expires_at=until)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def renew(session: Session, tenant_id: int, *, token: int, holder: str, until: datetime) -> bool:
    """Extend the lease if it is still this holder's with this token (the fence)."""
    result = session.execute(
        update(Lease)
        .where(Lease.tenant_id == tenant_id, Lease.token == token, Lease.holder == holder)
        .values(expires_at=until)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release(session: Session, tenant_id: int, *, token: int, holder: str) -> None:
    session.execute(
        update(Lease)
        .where(Lease.tenant_id == tenant_id, Lease.token == token, Lease.holder == holder)
        .values(holder=None, expires_at=None)
    )


def token(session: Session, tenant_id: int) -> int:
    return session.scalar(select(Lease.token).where(Lease.tenant_id == tenant_id)) or 0
