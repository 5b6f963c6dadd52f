"""The tenant's lease on the context's clock and sleep: waiting, expiry, take-over and the fence,
with no real time passing (the sleep moves the test's clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.exc import OperationalError
from tests.support.actors import ACTOR
from tests.support.clocks import FakeClock
from tests.support.loopback import LOOPBACK

from meterbridge.services import tenants
from meterbridge.services.context import Context
from meterbridge.services.errors import LeaseHeld, LeaseLost
from meterbridge.services.lease import Held, acquire, holding
from meterbridge.services.scope import open_tenant
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox


class MovingSleep:
    """A sleep that moves the clock instead of waiting, and remembers how long it slept."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)


@pytest.fixture
def ctx(database: Database) -> Context:
    clock = FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    context = Context(outbound=LOOPBACK, db=database, box=SecretBox(Fernet.generate_key()), clock=clock)
    context.sleep = MovingSleep(clock)
    tenants.init_tenant(context, "acme", actor=ACTOR)
    return context


def test_a_second_holder_waits_on_the_contexts_sleep_then_is_refused(ctx: Context) -> None:
    tenant = open_tenant(ctx, "acme").id
    sleep = ctx.sleep
    assert isinstance(sleep, MovingSleep)

    async def scenario() -> None:
        first = await acquire(ctx, tenant, seconds=60)
        with pytest.raises(LeaseHeld, match="another push of this tenant is running") as refused:
            await acquire(ctx, tenant, seconds=60, wait_seconds=1.0, poll_seconds=0.25)
        assert refused.value.action == "push.wait"
        assert sum(sleep.slept) == pytest.approx(1.0), "it waited one second of the test's clock"
        first.release(ctx)

    asyncio.run(scenario())


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced(ctx: Context) -> None:
    tenant = open_tenant(ctx, "acme").id

    async def scenario() -> None:
        stale = await acquire(ctx, tenant, seconds=60)
        taker = await acquire(ctx, tenant, seconds=60, wait_seconds=120, poll_seconds=10)
        assert taker.token == stale.token + 1
        with pytest.raises(LeaseLost, match=f"fencing token {stale.token} is stale"):
            stale.renew(ctx)
        taker.release(ctx)

    asyncio.run(scenario())


def test_holding_renews_while_it_runs_and_releases_after(ctx: Context) -> None:
    tenant = open_tenant(ctx, "acme").id
    clock = ctx.clock
    assert isinstance(clock, FakeClock)

    async def scenario() -> None:
        async with holding(ctx, tenant, seconds=60) as held:
            for _ in range(10):  # five minutes of the test's clock, well past the lease's 60 seconds
                await ctx.sleep(30)
            with pytest.raises(LeaseHeld):  # not expired: the renewer kept it alive
                await acquire(ctx, tenant, seconds=60)
        again = await acquire(ctx, tenant, seconds=60)  # released: no waiting
        assert again.token == held.token + 1

    asyncio.run(scenario())


def test_a_renewal_that_fails_for_a_moment_neither_stops_renewing_nor_keeps_the_lease(ctx: Context) -> None:
    tenant = open_tenant(ctx, "acme").id
    calls = {"n": 0}
    renew = Held.renew

    def flaky(self: Held, context: Context) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("UPDATE leases", {}, Exception("database is locked"))
        renew(self, context)

    async def scenario() -> str:
        async with holding(ctx, tenant, seconds=60) as held:
            held_type = type(held)
            held_type.renew = flaky  # type: ignore[method-assign]
            try:
                for _ in range(10):
                    await ctx.sleep(30)
                with pytest.raises(LeaseHeld):  # renewed after the failure: still held
                    await acquire(ctx, tenant, seconds=60)
            finally:
                held_type.renew = renew  # type: ignore[method-assign]
        again = await acquire(ctx, tenant, seconds=60)  # and released at the end, as always
        again.release(ctx)
        return "done"

    assert asyncio.run(scenario()) == "done"
    assert calls["n"] > 1


def test_a_write_leaves_only_while_the_lease_was_confirmed_within_half_its_length(ctx: Context) -> None:
    """The fence the ConnectWise client calls the moment before a write leaves: fresh, it lets it
    go without a query; older than half the lease (a paused process), it fences again, and a lease
    taken over meanwhile stops the write unsent. The taker knows whom it took the lease from."""
    tenant = open_tenant(ctx, "acme").id
    now = [1000.0]
    ctx.monotonic = lambda: now[0]

    async def scenario() -> None:
        held = await acquire(ctx, tenant, seconds=60)
        assert held.previous is None, "a free lease: nobody to wait for"
        fence = held.before_send(ctx)
        now[0] += 29
        fence("POST", "finance/agreements/1/additions")  # fresh: sent
        now[0] += 2  # 31 s since it was confirmed: fenced again, still ours
        fence("POST", "finance/agreements/1/additions")
        assert held.fenced_at == now[0]
        assert isinstance(ctx.clock, FakeClock)
        ctx.clock.advance(seconds=61)  # paused past its lease: another push takes it over
        taker = await acquire(ctx, tenant, seconds=60)
        assert taker.previous == held.holder, "taken from a holder that may be alive (this process)"
        assert taker.previous_still_here() is not None
        now[0] += 61
        with pytest.raises(LeaseLost, match="stopped before sending another write"):
            fence("POST", "finance/agreements/1/additions")
        taker.release(ctx)

    asyncio.run(scenario())
