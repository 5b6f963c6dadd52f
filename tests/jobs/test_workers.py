"""Procrastinate on PostgreSQL for real: 3 `meterbridge worker` processes and 20 tenants against
cwsim, workers SIGKILLed at random moments (most while they push) and restarted: every tenant's
month is billed exactly once, nothing is missing, no journal entry is left open."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from cwsim.app import create_app
from cwsim.faults import FaultRule
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.services import schedules
from meterbridge.services.context import Context
from meterbridge.store.database import Database
from meterbridge.store.models import JournalEntry, Lease
from meterbridge.store.secrets import SecretBox
from tests.conftest import require
from tests.support import many_tenants
from tests.support.databases import fresh_database, postgres_available
from tests.support.loopback import LOOPBACK
from tests.support.processes import Command
from tests.support.server import serve

pytestmark = pytest.mark.slow
TENANTS, PER_TENANT, WORKERS = 20, 6, 3


class Workers:
    """``meterbridge worker`` processes, each forked warm (tests/support/processes.py)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.processes: dict[int, Command] = {}
        self.started = 0

    def start(self, slot: int) -> None:
        self.started += 1
        self.processes[slot] = Command(
            ["worker", "--stalled-after", "3", "--name", f"w{slot}"],
            self.env, self.logs, name=f"worker-{slot}-{self.started}",
        )  # fmt: skip

    def kill(self, slot: int) -> None:
        self.processes[slot].kill()  # reaped: its pid is gone, so its lease is seen dead at once

    def pids(self) -> dict[int, int]:
        return {process.pid: slot for slot, process in self.processes.items() if process.poll() is None}

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except TimeoutError:
                process.kill()


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    require(postgres_available(), "PostgreSQL on 127.0.0.1:5432 (user postgres, database test)")
    with fresh_database("postgresql", tmp_path) as url:
        yield url


def _pushing(ctx: Context, pids: dict[int, int]) -> list[int]:
    """Worker slots holding a tenant's lease right now (in the middle of a push)."""
    with ctx.db.session() as session:
        holders = session.scalars(select(Lease.holder).where(Lease.holder.is_not(None))).all()
    slots = []
    for holder in holders:
        pid = (holder or "").split(":")[1] if holder and holder.count(":") >= 2 else ""
        if pid.isdigit() and int(pid) in pids:
            slots.append(pids[int(pid)])
    return slots


def test_three_workers_killed_at_random_bill_every_tenant_exactly_once(pg_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    period = many_tenants.billing_month(now)
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), seed=3)
    load_scenario(sim, many_tenants.scenario(TENANTS, PER_TENANT))
    sim.faults.configure(3, [FaultRule(methods=["POST", "PATCH"], latency_ms=300)])  # pushes take a while
    key = Fernet.generate_key()
    db = Database(pg_url)
    db.upgrade()
    ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(key), clock=lambda: datetime.now(UTC))
    rng = random.Random(20261201)
    with serve(create_app(sim)) as url:
        for j in range(TENANTS):
            many_tenants.configure(ctx, url, j, PER_TENANT, period, concurrency=2)
        env = {
            **os.environ, "MBRIDGE_DATABASE_URL": pg_url, "MBRIDGE_SECRET_KEY": key.decode(),
            "MBRIDGE_HOME": str(tmp_path / "home"), "MBRIDGE_TICK_SECONDS": "1",
        }  # fmt: skip
        workers = Workers(env, tmp_path)
        for slot in range(WORKERS):
            workers.start(slot)
        for j in range(TENANTS):
            many_tenants.schedule_monthly(ctx, j, now)
        kills, mid_push = 0, 0
        deadline = time.monotonic() + 300
        try:
            while many_tenants.settled(ctx) < TENANTS:
                assert time.monotonic() < deadline, f"only {many_tenants.settled(ctx)} tenants billed"
                time.sleep(rng.uniform(0.05, 0.6))
                if kills >= 14:
                    continue
                busy = _pushing(ctx, workers.pids())
                if busy:  # most kills land in the middle of a push
                    victim = rng.choice(busy)
                    mid_push += 1
                elif rng.random() < 0.1:  # some at any other moment (idle, starting up, between jobs)
                    victim = rng.randrange(WORKERS)
                else:
                    continue
                workers.kill(victim)
                kills += 1
                workers.start(victim)
        finally:
            workers.stop()
    additions = list(sim.state.collections["additions"].by_id.values())
    assert many_tenants.billing_problems(additions, TENANTS, PER_TENANT) == []
    with db.session() as session:
        unsettled = select(func.count()).select_from(JournalEntry).where(JournalEntry.result.is_(None))
        assert session.scalar(unsettled) == 0
    assert kills >= 10 and mid_push >= 8, (kills, mid_push)
    states = {schedules.show_schedule(ctx, many_tenants.tenant_key(j), "monthly").last_status for j in range(TENANTS)}
    assert states == {"done"}
    db.dispose()
