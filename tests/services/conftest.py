"""A world for service tests: cwsim on a real loopback socket (schemas checked), meterbridge on a fresh database."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from tests.support.actors import ACTOR
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog, ContractMiddleware
from tests.support.databases import Templates, fresh_database, point_connections_at
from tests.support.loopback import LOOPBACK
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


WORLD_KEY = Fernet.generate_key()  # the key every world template of this test process seals with


def _reference_month(n: int, now: Callable[[], datetime]) -> Callable[[str], None]:
    """Builds a template: meterbridge set up for the reference month of ``n`` customers, as
    ``configure`` does it against a cwsim of its own (a copy is pointed at its test's cwsim)."""

    def build(database_url: str) -> None:
        sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=now, seed=7)
        load_scenario(sim, scenario(n))
        with serve(create_app(sim)) as url:
            db = Database(database_url)
            db.upgrade()
            try:
                configure(Context(outbound=LOOPBACK, db=db, box=SecretBox(WORLD_KEY), clock=now), url, n)
            finally:
                db.dispose()

    return build


def make_world(
    kind: str, tmp_path: Path, templates: Templates, n: int, contract_log: ContractLog, *, real_time: bool = False
) -> Iterator[World]:
    """The reference month on a copy of its template (built once per test process), against a
    fresh cwsim of this test's. ``real_time``: both sides on the system clock, for meterbridge
    in another process."""
    clock = FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    now: Callable[[], datetime] = (lambda: datetime.now(UTC)) if real_time else clock
    template = templates.get(kind, f"reference-month-{n}{'-real-time' if real_time else ''}", _reference_month(n, now))
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=now, seed=7)
    load_scenario(sim, scenario(n))
    with (
        serve(ContractMiddleware(create_app(sim), contract_log)) as url,
        fresh_database(kind, tmp_path, template=template.url) as database_url,
    ):
        db = Database(database_url)
        point_connections_at(db, url)
        ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(WORLD_KEY), clock=now)
        yield World(sim, ctx, url, clock, database_url, n, WORLD_KEY)
        db.dispose()


@pytest.fixture
def month(database_kind: str, tmp_path: Path, templates: Templates, contract_log: ContractLog) -> Iterator[World]:
    """The reference month for 200 customers, set up and linked, nothing pushed yet."""
    yield from make_world(database_kind, tmp_path, templates, 200, contract_log)


@pytest.fixture
def small_month(database_kind: str, tmp_path: Path, templates: Templates, contract_log: ContractLog) -> Iterator[World]:
    """The same cases for 40 customers."""
    yield from make_world(database_kind, tmp_path, templates, 40, contract_log)


@pytest.fixture
def live_month(database_kind: str, tmp_path: Path, templates: Templates, contract_log: ContractLog) -> Iterator[World]:
    """60 customers, on the system clock, for pushes run as separate processes."""
    yield from make_world(database_kind, tmp_path, templates, 60, contract_log, real_time=True)


@pytest.fixture
def ctx(database_url: str) -> Iterator[Context]:
    """A tenant with two products (storage in GB by its highest sample, server licenses by the
    last count) and nothing else: for usage in, no ConnectWise needed."""
    db = Database(database_url)
    db.upgrade()
    clock = FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    context = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=clock)
    tenants.init_tenant(context, "default", actor=ACTOR)
    for key, kind, unit, basis in (("storage", "storage", "GB", "max"), ("server", "license", "count", "last")):
        products.save_product(context, "default", key, name=key.title(), kind=kind, unit=unit, basis=basis, actor=ACTOR)
    yield context
    db.dispose()


@pytest.fixture
def live_worlds(
    database_kind: str, templates: Templates, contract_log: ContractLog
) -> Callable[[Path], contextlib.AbstractContextManager[World]]:
    """Worlds like ``live_month``, a fresh one each call, for a test that needs several (made here,
    with this module's key: a test module importing ``make_world`` would get another copy of it)."""

    def new(folder: Path) -> contextlib.AbstractContextManager[World]:
        return contextlib.contextmanager(make_world)(database_kind, folder, templates, 60, contract_log, real_time=True)

    return new
