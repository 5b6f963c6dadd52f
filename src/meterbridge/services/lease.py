"""One push per tenant at a time: a lease in the database with a fencing token (DESIGN.md guarantee 4).

``async with holding(ctx, tenant_id, seconds=60, wait_seconds=0) as held:`` takes the lease
(its token grows by one), renews it in the background every third of its length, and releases
it on the way out. Every journal write calls ``held.check`` in its own transaction: the fence,
which also renews; a worker presumed dead cannot write after another took over. A lease whose
holder ran on this machine and whose process is gone is taken over at once; any other lease is
waited for (up to ``wait_seconds``) or refused. Waiting and renewing sleep on the context's
sleep, so a test's clock can drive them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from meterbridge.services.context import Context
from meterbridge.services.errors import LeaseHeld, LeaseLost
from meterbridge.store.repos import leases

log = logging.getLogger("meterbridge.lease")


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
        """The fence: renew the lease if it is still ours, in the caller's transaction; else LeaseLost."""
        until = ctx.clock() + timedelta(seconds=self.seconds)
        if not leases.renew(session, self.tenant_id, token=self.token, holder=self.holder, until=until):
            raise LeaseLost(
                f"the lease of this tenant was taken over (fencing token {self.token} is stale); "
                "this push stopped before writing again"
            )

    def renew(self, ctx: Context) -> None:
        with ctx.db.session() as session:
            self.check(ctx, session)

    def release(self, ctx: Context) -> None:
        with ctx.db.session() as session:
            leases.release(session, self.tenant_id, token=self.token, holder=self.holder)


def _try_acquire(ctx: Context, tenant_id: int, holder: str, seconds: float) -> Held | str:
    try:
        return _acquire_once(ctx, tenant_id, holder, seconds)
    except OperationalError:  # SQLite: another process wrote the lease between our read and our write
        return "another worker (it took the lease a moment ago)"


def _acquire_once(ctx: Context, tenant_id: int, holder: str, seconds: float) -> Held | str:
    now = ctx.clock()
    with ctx.db.session() as session:
        lease = leases.get_or_add(session, tenant_id)
        current = lease.holder
        if (
            current is not None
            and lease.expires_at is not None
            and lease.expires_at > now
            and not _holder_is_dead(current)
        ):
            return f"{current} (until {lease.expires_at:%H:%M:%S} UTC)"
        until, seen = now + timedelta(seconds=seconds), lease.token
        if not leases.take(session, tenant_id, seen_token=seen, seen_holder=current, holder=holder, until=until):
            return "another worker (it took the lease a moment ago)"
        return Held(tenant_id, holder, seen + 1, seconds)


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
                f"another push of this tenant is running: {outcome}",
                hint="wait for it, or try again later",
                action="push.wait",
            )
        await ctx.sleep(poll_seconds)
        waited += poll_seconds


async def _keep_renewed(ctx: Context, held: Held) -> None:
    """Renew every third of the lease's length. A renewal that fails for a moment (a busy
    database) is tried again at the next beat; a lease taken over ends the renewing (the next
    fenced write stops the holder)."""
    while True:
        await ctx.sleep(held.seconds / 3)
        try:
            held.renew(ctx)
        except LeaseLost:
            return
        except Exception as error:
            log.warning("renewing the lease of tenant %s failed, trying again: %s", held.tenant_id, error)


@contextlib.asynccontextmanager
async def holding(ctx: Context, tenant_id: int, *, seconds: float, wait_seconds: float = 0.0) -> AsyncIterator[Held]:
    """Take the lease, keep it renewed while the block runs, release it after (whatever happens)."""
    held = await acquire(ctx, tenant_id, seconds=seconds, wait_seconds=wait_seconds)
    renewer = asyncio.create_task(_keep_renewed(ctx, held))
    try:
        yield held
    finally:
        renewer.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        finally:
            try:
                held.release(ctx)
            except Exception as error:
                log.warning("releasing the lease of tenant %s failed (it expires by itself): %s", tenant_id, error)
