"""One push per tenant at a time: a lease in the database with a fencing token (DESIGN.md guarantee 4).

``async with holding(ctx, tenant_id, seconds=60, wait_seconds=0) as held:`` takes the lease
(its token grows by one), renews it in the background every third of its length, and releases
it on the way out. Every journal write calls ``held.check`` in its own transaction: the fence,
which also renews; a worker presumed dead cannot write after another took over. And every
request that writes to ConnectWise is checked again the moment before it leaves
(``held.before_send``): it goes only while the lease was confirmed, on this process' monotonic
clock, less than half its length ago; older than that (the process was paused, a renewal
failed), it is fenced again first, and a lease taken over meanwhile stops it unsent. A lease whose
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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from meterbridge.services.context import Context
from meterbridge.services.errors import LeaseHeld, LeaseLost
from meterbridge.store.database import BUSY_SECONDS
from meterbridge.store.repos import leases

log = logging.getLogger("meterbridge.lease")


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """The holder ran on this machine and its process is gone."""
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


#: a write leaves only while the lease was confirmed less than this part of its length ago
FRESH = 0.5


@dataclass
class Held:
    tenant_id: int
    holder: str
    token: int
    seconds: float
    #: when the lease was last confirmed ours, on the process' monotonic clock (taken, renewed, fenced)
    fenced_at: float = field(default=0.0, compare=False)
    #: the holder it was taken over from, whose lease ran out and who may still be alive (not
    #: released, not a process gone from this machine): its writes in flight are waited for before
    #: they are checked, and while it still runs on this machine (paused) they are left unchecked
    previous: str | None = field(default=None, compare=False)

    @property
    def from_live_holder(self) -> bool:
        return self.previous is not None

    def previous_still_here(self) -> str | None:
        """The previous holder's process, when it runs on this machine still (paused or stalled):
        a write it had begun to send may land whenever it goes on."""
        if self.previous is None or holder_is_dead(self.previous):
            return None
        host, _, rest = self.previous.partition(":")
        pid = rest.partition(":")[0]
        return f"process {pid}" if host == socket.gethostname() and pid.isdigit() else None

    def check(self, ctx: Context, session: Session) -> None:
        """The fence: renew the lease if it is still ours, in the caller's transaction; else LeaseLost."""
        asked = ctx.monotonic()
        until = ctx.clock() + timedelta(seconds=self.seconds)
        if not leases.renew(session, self.tenant_id, token=self.token, holder=self.holder, until=until):
            raise LeaseLost(
                f"the lease of this tenant was taken over (fencing token {self.token} is stale); "
                "this push stopped before sending another write"
            )
        self.fenced_at = max(self.fenced_at, asked)

    def before_send(self, ctx: Context) -> Callable[[str, str], None]:
        """The check a ConnectWise client makes the moment before a write leaves (its ``before_write``)."""

        def fence(method: str, path: str) -> None:
            if ctx.monotonic() - self.fenced_at < self.seconds * FRESH:
                return
            log.warning(
                "the lease of tenant %s was last confirmed %.1f s ago (it lasts %.0f s): fenced again before %s %s",
                self.tenant_id,
                ctx.monotonic() - self.fenced_at,
                self.seconds,
                method,
                path,
            )
            self.renew(ctx)

        return fence

    def renew(self, ctx: Context) -> None:
        with ctx.db.session() as session:
            self.check(ctx, session)

    def release(self, ctx: Context) -> None:
        with ctx.db.session() as session:
            leases.release(session, self.tenant_id, token=self.token, holder=self.holder)


#: what a push waiting for the lease is told when SQLite's write lock stayed held past its busy
#: timeout: one writer at a time, and a process paused (or stalled) inside a write holds it
DATABASE_LOCKED = (
    "the database is locked by another process in the middle of a write (with SQLite one process "
    "writes at a time; a push paused or stalled mid-write holds the lock until it goes on or ends)"
)


def _try_acquire(ctx: Context, tenant_id: int, holder: str, seconds: float) -> Held | str:
    asked = ctx.monotonic()
    try:
        return _acquire_once(ctx, tenant_id, holder, seconds)
    except OperationalError:
        # another process wrote the lease between our read and our write (SQLite, at once), or
        # holds its lock past the busy timeout (a process paused inside a transaction)
        if ctx.monotonic() - asked >= BUSY_SECONDS:
            return DATABASE_LOCKED
        return "another worker (it took the lease a moment ago)"


def _acquire_once(ctx: Context, tenant_id: int, holder: str, seconds: float) -> Held | str:
    now, asked = ctx.clock(), ctx.monotonic()
    with ctx.db.session() as session:
        leases.wait_for_locks_at_most(session, BUSY_SECONDS)
        lease = leases.get_or_add(session, tenant_id)
        current = lease.holder
        if (
            current is not None
            and lease.expires_at is not None
            and lease.expires_at > now
            and not holder_is_dead(current)
        ):
            return f"{current} (until {lease.expires_at:%H:%M:%S} UTC)"
        until, seen = now + timedelta(seconds=seconds), lease.token
        if not leases.take(session, tenant_id, seen_token=seen, seen_holder=current, holder=holder, until=until):
            return "another worker (it took the lease a moment ago)"
        previous = current if current is not None and not holder_is_dead(current) else None
        return Held(tenant_id, holder, seen + 1, seconds, fenced_at=asked, previous=previous)


async def acquire(
    ctx: Context, tenant_id: int, *, seconds: float, wait_seconds: float = 0.0, poll_seconds: float = 0.2
) -> Held:
    """Take the tenant's lease, waiting up to ``wait_seconds``; LeaseHeld names the holder otherwise."""
    holder = holder_name()
    waited = 0.0
    while True:
        asked = ctx.monotonic()
        outcome = _try_acquire(ctx, tenant_id, holder, seconds)
        if isinstance(outcome, Held):
            return outcome
        waited += max(0.0, ctx.monotonic() - asked)  # a try that waited on a locked database counts
        if waited >= wait_seconds:
            if outcome == DATABASE_LOCKED:
                raise LeaseHeld(
                    f"this push could not take the lease: {outcome}",
                    hint="let the other process go on (or stop it), then push again",
                    action="push.wait",
                )
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
