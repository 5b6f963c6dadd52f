"""A world for REST API tests: cwsim and meterbridge's app each on a real loopback socket
(uvicorn), meterbridge on a fresh SQLite or PostgreSQL database, both on one clock the test
moves; tenants acme (connected to cwsim) and beta, with an admin, billing and viewer token each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet
from tests.support.actors import ACTOR
from tests.support.cli_world import company_scenario
from tests.support.clocks import FakeClock
from tests.support.contract import ContractLog, ContractMiddleware
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


def make_api(database_url: str, contract_log: ContractLog, companies: int = 3) -> Iterator[Api]:
    clock = FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))  # October is over, November is open
    sim = Simulator.create(SimSettings(rate_limit_per_minute=1_000_000), clock=clock, seed=5)
    load_scenario(sim, company_scenario(companies))
    with serve(ContractMiddleware(create_sim(sim), contract_log)) as cw_url:
        db = Database(database_url)
        db.upgrade()
        ctx = Context(db=db, box=SecretBox(Fernet.generate_key()), clock=clock)
        for tenant in ("acme", "beta"):
            tenants.init_tenant(ctx, tenant, actor=ACTOR)
        connections.set_connection(
            ctx, "acme", site=cw_url, company_id="sim", public_key="simpub", private_key=PRIVATE_KEY,
            client_id="tests", actor=ACTOR,
        )  # fmt: skip
        app = create_app(ctx, Settings(database_url=database_url), secure_cookies=False)
        with serve(app) as url, httpx2.Client(base_url=url, timeout=30) as http:
            api = Api(sim, ctx, app, url, clock, http)
            for tenant in ("acme", "beta"):
                for role in ROLES:
                    created = accounts.create_token(ctx, tenant, f"{tenant}-{role}", role, actor=ACTOR)
                    api.tokens[(tenant, role)] = created.token
            accounts.add_member(ctx, "acme", "ann@example.com", "admin", password=PASSWORD, actor=ACTOR)
            yield api
        db.dispose()


@pytest.fixture
def api(database_url: str, contract_log: ContractLog) -> Iterator[Api]:
    yield from make_api(database_url, contract_log)
