"""A world for REST API tests: cwsim and meterbridge's app each on a real loopback socket
(uvicorn), meterbridge on a fresh SQLite or PostgreSQL database, both on one clock the test
moves; tenants acme (connected to cwsim) and beta, with an admin, billing and viewer token each.
The database is a copy of a template built once per test process (tests/support/databases.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet
from tests.support.actors import ACTOR
from tests.support.cli_world import company_scenario
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog, ContractMiddleware
from tests.support.databases import Templates, fresh_database, point_connections_at
from tests.support.loopback import LOOPBACK
from tests.support.server import serve

from cwsim.app import create_app as create_sim
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.services import accounts, connections, tenants
from meterbridge.services.context import Context
from meterbridge.settings import Settings
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox
from meterbridge.web.app import create_app

PRIVATE_KEY = "simpriv"  # cwsim's; every test greps responses for it
PASSWORD = "correct horse battery staple"
ROLES = ("admin", "billing", "viewer")


@dataclass
class Api:
    sim: Simulator
    ctx: Context
    app: Any
    url: str
    clock: FakeClock
    http: httpx2.Client
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)  # (tenant, role) -> token

    def auth(self, role: str = "billing", tenant: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[(tenant, role)]}"}

    def call(
        self, method: str, path: str, *, role: str = "billing", tenant: str = "acme", status: int = 200, **kwargs: Any
    ) -> Any:
        """A request to /api/v1/tenants/{tenant}{path} as that tenant's token of ``role``; checks the status."""
        headers = {**self.auth(role, tenant), **kwargs.pop("headers", {})}
        response = self.http.request(method, f"/api/v1/tenants/{tenant}{path}", headers=headers, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text[:2000]}"
        assert PRIVATE_KEY not in response.text
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def wait_for(self, run: int, *, tenant: str = "acme", seconds: float = 60) -> dict[str, Any]:
        """The run once its push has finished (polled as a client would)."""
        deadline = time.monotonic() + seconds
        while True:
            view: dict[str, Any] = self.call("GET", f"/runs/{run}", role="viewer", tenant=tenant)
            if view["status"] != "running":
                return view
            assert time.monotonic() < deadline, f"run {run} still running: {view}"
            time.sleep(0.05)

    def additions(self) -> list[dict[str, Any]]:
        return sorted(self.sim.state.collections["additions"].by_id.values(), key=lambda a: a["id"])


WORLD_KEY = Fernet.generate_key()  # the key the API world's templates seal with, in this test process
START = datetime(2026, 11, 3, 9, tzinfo=UTC)  # October is over, November is open


def _tenants_and_tokens(companies: int) -> Callable[[str], dict[tuple[str, str], str]]:
    """Builds the template: tenants acme (connected to a cwsim of its own) and beta, a token per
    role in each, and ann, acme's admin; what it returns is the tokens (shown once, at creation)."""

    def build(database_url: str) -> dict[tuple[str, str], str]:
        clock = FakeClock(START)
        sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=clock, seed=5)
        load_scenario(sim, company_scenario(companies))
        db = Database(database_url)
        db.upgrade()
        ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(WORLD_KEY), clock=clock)
        tokens: dict[tuple[str, str], str] = {}
        try:
            with serve(create_sim(sim)) as cw_url:
                for tenant in ("acme", "beta"):
                    tenants.init_tenant(ctx, tenant, actor=ACTOR)
                connections.set_connection(
                    ctx, "acme", site=cw_url, company_id="sim", public_key="simpub", private_key=PRIVATE_KEY,
                    client_id="tests", actor=ACTOR,
                )  # fmt: skip
                for tenant in ("acme", "beta"):
                    for role in ROLES:
                        created = accounts.create_token(ctx, tenant, f"{tenant}-{role}", role, actor=ACTOR)
                        tokens[(tenant, role)] = created.token
                accounts.add_member(ctx, "acme", "ann@example.com", "admin", password=PASSWORD, actor=ACTOR)
        finally:
            db.dispose()
        return tokens

    return build


def make_api(
    kind: str, tmp_path: Path, templates: Templates, contract_log: ContractLog, companies: int = 3
) -> Iterator[Api]:
    """The API's world on a copy of its template (built once per test process), against a fresh
    cwsim of this test's."""
    template = templates.get(kind, f"api-{companies}", _tenants_and_tokens(companies))
    clock = FakeClock(START)
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=clock, seed=5)
    load_scenario(sim, company_scenario(companies))
    with (
        serve(ContractMiddleware(create_sim(sim), contract_log)) as cw_url,
        fresh_database(kind, tmp_path, template=template.url) as database_url,
    ):
        db = Database(database_url)
        point_connections_at(db, cw_url)
        ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(WORLD_KEY), clock=clock)
        app = create_app(ctx, Settings(database_url=database_url), secure_cookies=False)
        with serve(app) as url, httpx2.Client(base_url=url, timeout=30) as http:
            yield Api(sim, ctx, app, url, clock, http, dict(template.data))
        db.dispose()


@pytest.fixture
def api(database_kind: str, tmp_path: Path, templates: Templates, contract_log: ContractLog) -> Iterator[Api]:
    yield from make_api(database_kind, tmp_path, templates, contract_log)
