"""A world for service tests: cwsim on a real loopback socket (schemas checked), meterbridge on a fresh database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from tests.support.actors import ACTOR
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog, ContractMiddleware
from tests.support.reference_month import configure, scenario
from tests.support.server import serve

from cwsim.app import create_app
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.services import products, tenants
from meterbridge.services.context import Context
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox


@dataclass
class World:
    sim: Simulator
    ctx: Context
    url: str
    clock: FakeClock
    database_url: str
    n: int
    key: bytes


def make_world(database_url: str, n: int, contract_log: ContractLog, *, real_time: bool = False) -> Iterator[World]:
    """``real_time``: both sides on the system clock, for meterbridge in another process."""
    clock = FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    now: Callable[[], datetime] = (lambda: datetime.now(UTC)) if real_time else clock
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=now, seed=7)
    load_scenario(sim, scenario(n))
    with serve(ContractMiddleware(create_app(sim), contract_log)) as url:
        db = Database(database_url)
        db.upgrade()
        key = Fernet.generate_key()
        ctx = Context(db=db, box=SecretBox(key), clock=now)
        configure(ctx, url, n)
        yield World(sim, ctx, url, clock, database_url, n, key)
        db.dispose()


@pytest.fixture
def month(database_url: str, contract_log: ContractLog) -> Iterator[World]:
    """The reference month for 200 customers, set up and linked, nothing pushed yet."""
    yield from make_world(database_url, 200, contract_log)


@pytest.fixture
def small_month(database_url: str, contract_log: ContractLog) -> Iterator[World]:
    """The same cases for 40 customers."""
    yield from make_world(database_url, 40, contract_log)


@pytest.fixture
def live_month(database_url: str, contract_log: ContractLog) -> Iterator[World]:
    """60 customers, on the system clock, for pushes run as separate processes."""
    yield from make_world(database_url, 60, contract_log, real_time=True)


@pytest.fixture
def ctx(database_url: str) -> Iterator[Context]:
    """A tenant with two products (storage in GB by its highest sample, server licenses by the
    last count) and nothing else: for usage in, no ConnectWise needed."""
    db = Database(database_url)
    db.upgrade()
    clock = FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    context = Context(db=db, box=SecretBox(Fernet.generate_key()), clock=clock)
    tenants.init_tenant(context, "default", actor=ACTOR)
    for key, kind, unit, basis in (("storage", "storage", "GB", "max"), ("server", "license", "count", "last")):
        products.save_product(context, "default", key, name=key.title(), kind=kind, unit=unit, basis=basis, actor=ACTOR)
    yield context
    db.dispose()
