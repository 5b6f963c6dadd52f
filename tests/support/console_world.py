"""A world for the console: cwsim (a generated scenario) and meterbridge's app each on a real
loopback socket, meterbridge on a fresh database, one clock; tenants, users and their roles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from cryptography.fernet import Fernet

from cwsim.app import create_app as create_sim
from cwsim.generate import generate
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.domain.periods import Period
from meterbridge.services import accounts, companies, connections, demo, push, runs, tenants
from meterbridge.services.context import Context
from meterbridge.settings import Settings
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox
from meterbridge.web.app import create_app
from tests.support.actors import ACTOR
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog, ContractMiddleware
from tests.support.loopback import LOOPBACK
from tests.support.server import serve

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
SIM_KEYS = {"company_id": "sim", "public_key": "simpub", "private_key": "simpriv"}


@dataclass
class ConsoleWorld:
    sim: Simulator
    ctx: Context
    app: Any
    url: str  # meterbridge
    cw_url: str  # cwsim
    clock: FakeClock

    def user(self, tenant: str, username: str, role: str) -> str:
        """Give ``username`` (created with PASSWORD when new) ``role`` in ``tenant``, as the operator does."""
        accounts.add_member(self.ctx, tenant, username, role, password=PASSWORD, actor=ACTOR, operator=True)
        return username


@contextmanager
def console_world(
    database_url: str, contract_log: ContractLog, *, companies: int = 12, now: datetime | None = None
) -> Iterator[ConsoleWorld]:
    clock = FakeClock(now or datetime(2026, 11, 3, 9, tzinfo=UTC))  # October is over, November is open
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=clock, seed=3)
    load_scenario(sim, generate(companies, seed=1, as_of=date(2026, 11, 3)))
    with serve(ContractMiddleware(create_sim(sim), contract_log)) as cw_url:
        db = Database(database_url)
        db.upgrade()
        ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=clock)
        for tenant in ("acme", "beta"):
            tenants.init_tenant(ctx, tenant, actor=ACTOR)
        app = create_app(ctx, Settings(database_url=database_url), secure_cookies=False)
        try:
            with serve(app) as url:
                yield ConsoleWorld(sim, ctx, app, url, cw_url, clock)
        finally:
            db.dispose()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a thread of its own (Playwright's sync API holds this
    thread's event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def set_up(world: ConsoleWorld, tenant: str = "acme", period: str = "2026-10") -> int:
    """A tenant set up as the demo sets it up (connection, companies, customers, products, prices,
    configurations, usage, links), with a preview of ``period``: its run id."""
    connections.set_connection(world.ctx, tenant, site=world.cw_url, client_id="console-test", actor=ACTOR, **SIM_KEYS)
    _run(companies.import_companies(world.ctx, tenant, actor=ACTOR))
    demo.seed_demo(world.ctx, tenant, Period.parse(period), actor=ACTOR)
    companies.link_customers(world.ctx, tenant, actor=ACTOR)
    return _run(push.preview(world.ctx, tenant, period, actor=ACTOR)).run


def finished_run(ctx: Context, tenant: str, run_id: int, *, seconds: float = 30) -> Any:
    """The head of a run the console started in the background, once it is no longer running."""
    deadline = time.monotonic() + seconds
    while (head := runs.show_run_head(ctx, tenant, run_id)).status.value == "running":
        assert time.monotonic() < deadline, f"run {run_id} still running after {seconds} s"
        time.sleep(0.05)
    return head
