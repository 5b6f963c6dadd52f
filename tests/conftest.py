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
from tests.support.databases import fresh_database, postgres_available
from tests.support.server import serve

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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test, on SQLite (a file) and on PostgreSQL (a new database in the cluster)."""
    if request.param == "postgresql":
        require(postgres_available(), "PostgreSQL on 127.0.0.1:5432 (user postgres, database test)")
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()
