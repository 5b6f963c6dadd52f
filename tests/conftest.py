"""Fixtures shared by the whole suite: cwsim in-process and on a real loopback socket.

Every exchange with cwsim goes through tests/support/contract.py's middleware, and a test
fails if cwsim's answers (or the requests it accepted) break ConnectWise's own schemas.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cwsim.app import create_app
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.store.database import Database
from tests.support.clocks import FakeClock, FakeMonotonic
from tests.support.contract import SHARED, ContractLog, ContractMiddleware
from tests.support.databases import Templates, fresh_database, postgres_available
from tests.support.depth import load_profile
from tests.support.loopback import ALLOWED
from tests.support.server import serve

load_profile()  # before any test module is imported: its @settings read the profile's depth


def pytest_configure(config: pytest.Config) -> None:
    """The operator setting every meterbridge the tests start reads (the CLI in a process, serve):
    cwsim, vendorsim and the receivers listen on loopback, which development allow-lists
    (meterbridge/outbound.py). Contexts built in the tests take ``tests.support.loopback.LOOPBACK``."""
    os.environ["MBRIDGE_OUTBOUND_ALLOW"] = ALLOWED

API_VERSION = "2026.4"
CW_HEADERS = {
    "Authorization": "Basic " + base64.b64encode(b"sim+simpub:simpriv").decode(),
    "clientId": "3b6e6d5c-0e0c-4f43-9b8c-4a1b8d2b6c11",
    "Accept": f"application/vnd.connectwise.com+json; version={API_VERSION}",
}
BASE_PATH = "/v4_6_release/apis/3.0"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """Skip a tier whose requirement is missing, except under CI=true, where that fails."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{what} is missing, and CI=true does not allow skipping this tier")
    pytest.skip(f"{what} is missing")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (in their order): pytest-xdist hands items out in this order, so the
    longest ones start while every worker is free instead of ending the run on one worker."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def sim(clock: FakeClock, monotonic: FakeMonotonic) -> Simulator:
    return Simulator.create(SimSettings(), clock=clock, monotonic=monotonic, seed=7)


@pytest.fixture
def contract_log() -> Iterator[ContractLog]:
    require(
        (SHARED / "connectwise" / "manage-billing-subset.openapi.json").exists(),
        f"ConnectWise's schemas in {SHARED}/connectwise",
    )
    log = ContractLog()
    yield log
    violations = log.take()
    assert not violations, "cwsim broke ConnectWise's schemas:\n" + "\n".join(violations)


@pytest.fixture
def app(sim: Simulator, contract_log: ContractLog) -> ContractMiddleware:
    return ContractMiddleware(create_app(sim), contract_log)


@pytest.fixture
def cw(app: ContractMiddleware) -> Iterator[TestClient]:
    """A client for the ConnectWise routes, authenticated as the default member."""
    with TestClient(app, base_url=f"http://127.0.0.1{BASE_PATH}", headers=CW_HEADERS) as client:
        yield client


@pytest.fixture
def admin(app: ContractMiddleware) -> Iterator[TestClient]:
    """A client for the /_sim/ admin API."""
    with TestClient(app, base_url="http://127.0.0.1/_sim") as client:
        yield client


@pytest.fixture
def live_url(app: ContractMiddleware) -> Iterator[str]:
    """cwsim on a real loopback socket (plain HTTP): ``http://127.0.0.1:PORT``."""
    with serve(app) as url:
        yield url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """Template databases made once per test session (per xdist worker), dropped at its end."""
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_kind(request: pytest.FixtureRequest) -> str:
    """Each test that stores anything runs on SQLite and on PostgreSQL."""
    kind: str = request.param
    if kind == "postgresql":
        require(postgres_available(), "PostgreSQL on 127.0.0.1:5432 (user postgres, database test)")
    return kind


@pytest.fixture
def database_url(database_kind: str, tmp_path: Path, templates: Templates) -> Iterator[str]:
    """A fresh database per test with meterbridge's schema at the head revision, on SQLite (a
    file) and on PostgreSQL (a new database in the cluster): a copy of a template migrated once."""
    with fresh_database(database_kind, tmp_path, template=templates.head(database_kind)) as url:
        yield url


@pytest.fixture
def empty_database_url(database_kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database with nothing in it, not even a schema: for the migrations' own tests."""
    with fresh_database(database_kind, tmp_path) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()
