"""One push per tenant at a time: a lease in the database with a fencing token (DESIGN.md guarantee 4).

Taking the lease increments its token; every journal write checks the token in the same
transaction (and renews the lease), so a worker presumed dead cannot write after another took
over. A lease whose holder ran on this machine and whose process is gone is taken over at once;
any other lease is waited for (up to a limit) or refused.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from meterbridge.services.context import Context
from meterbridge.services.errors import LeaseHeld, LeaseLost
from meterbridge.store.models import Lease


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_is_dead(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Held:
    tenant_id: int
    holder: str
    token: int
    seconds: float

    def check(self, ctx: Context, session: Session) -> None:
        """Renew the lease if it is still ours, in the caller's transaction; else raise LeaseLost."""
        result = session.execute(
            update(Lease)
            .where(Lease.tenant_id == self.tenant_id, Lease.token == self.token, Lease.holder == self.holder)
            .values(expires_at=ctx.clock() + timedelta(seconds=self.seconds))
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(
                f"the lease of this tenant was taken over (fencing token {self.token} is stale); "
                "this push stopped before writing again"
            )

    def renew(self, ctx: Context) -> None:
        with ctx.db.session() as session:
            self.check(ctx, session)

    def release(self, ctx: Context) -> None:
        with ctx.db.session() as session:
            session.execute(
                update(Lease)
                .where(Lease.tenant_id == self.tenant_id, Lease.token == self.token, Lease.holder == self.holder)
                .values(holder=None, expires_at=None)
            )


def _try_acquire(ctx: Context, tenant_id: int, holder: str, seconds: float) -> Held | str:
    try:
        return _acquire_once(ctx, tenant_id, holder, seconds)
    except OperationalError:  # SQLite: another process wrote the lease between our read and our write
        return "another worker (it took the lease a moment ago)"


def _acquire_once(ctx: Context, tenant_id: int, holder: str, seconds: float) -> Held | str:
    now = ctx.clock()
    with ctx.db.session() as session:
        lease = session.get(Lease, tenant_id)
        if lease is None:
            session.add(Lease(tenant_id=tenant_id, holder=None, token=0, expires_at=None))
            session.flush()
            lease = session.get(Lease, tenant_id)
            assert lease is not None
        current = lease.holder
        if (
            current is not None
            and lease.expires_at is not None
            and lease.expires_at > now
            and not _holder_is_dead(current)
        ):
            return f"{current} (until {lease.expires_at:%H:%M:%S} UTC)"
        token = lease.token + 1
        result = session.execute(
            update(Lease)
            .where(
                Lease.tenant_id == tenant_id,
                Lease.token == lease.token,
                or_(Lease.holder.is_(None), Lease.holder == current),
            )
            .values(holder=holder, token=token, expires_at=now + timedelta(seconds=seconds))
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return "another worker (it took the lease a moment ago)"
    return Held(tenant_id, holder, token, seconds)


async def acquire(
    ctx: Context, tenant_id: int, *, seconds: float, wait_seconds: float = 0.0, poll_seconds: float = 0.2
) -> Held:
    """Take the tenant's lease, waiting up to ``wait_seconds``; LeaseHeld names the holder otherwise."""
    holder = holder_name()
    waited = 0.0
    while True:
        outcome = _try_acquire(ctx, tenant_id, holder, seconds)
        if isinstance(outcome, Held):
            return outcome
        if waited >= wait_seconds:
            raise LeaseHeld(
                f"another push of this tenant is running: {outcome}; wait for it (--wait SECONDS) or try again later"
            )
        await asyncio.sleep(poll_seconds)
        waited += poll_seconds


def current_token(ctx: Context, tenant_id: int) -> int:
    with ctx.db.session() as session:
        return session.scalar(select(Lease.token).where(Lease.tenant_id == tenant_id)) or 0
