"""schemathesis against meterbridge's own OpenAPI: every operation is called with generated
data (valid per the schema, and schemathesis' own edge cases) as the tenant's admin, and must
never answer a 5xx, and every answer must match the schema it documents.

The app runs in-process with a SQLite database in pytest's temporary folder (built once for the
module, when its first case runs) and cwsim behind an ASGI transport (no network). The schema
given to schemathesis pins the ``tenant`` path parameter to the one tenant that exists, so the
cases reach the routes instead of a 404."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from tests.support.actors import ACTOR
from tests.support.api_cases import OperationCases
from tests.support.cli_world import company_scenario
from tests.support.depth import examples
from tests.support.loopback import LOOPBACK

from cwsim.app import create_app as create_sim
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.services import accounts, companies, connections, prices, products, rules, tenants
from meterbridge.services.context import Context
from meterbridge.settings import Settings
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox
from meterbridge.web.app import create_app


@dataclass
class Served:
    app: Any
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The tenant's world, built once for this module's cases (in pytest's temporary folder, when
    the first case runs: nothing at import or collection time)."""
    home = tmp_path_factory.mktemp("schemathesis")
    sim = Simulator.create(SimSettings(rate_limit_per_minute=0), seed=11)
    load_scenario(sim, company_scenario(3))
    db = Database(f"sqlite:///{home / 'meterbridge.db'}")
    db.upgrade()
    ctx = Context(
        outbound=LOOPBACK,
        db=db,
        box=SecretBox(Fernet.generate_key()),
        clock=lambda: datetime.now(UTC),
        transport=httpx2.ASGITransport(app=create_sim(sim)),
    )
    tenants.init_tenant(ctx, "acme", actor=ACTOR)
    connections.set_connection(
        ctx, "acme", site="http://cwsim.test", company_id="sim", public_key="simpub", private_key="simpriv",
        client_id="tests", actor=ACTOR,
    )  # fmt: skip
    asyncio.run(companies.import_companies(ctx, "acme", actor=ACTOR))
    products.save_product(
        ctx, "acme", "storage", kind="storage", unit="GB", basis="max", cw_product="BACKUP-STORAGE-GB", actor=ACTOR
    )
    prices.set_price(ctx, "acme", "storage", unit_price="0.10", actor=ACTOR)
    rules.save_rule(ctx, "acme", "default-agreement", 'type/name = "Backup Services"', actor=ACTOR)
    token = accounts.create_token(ctx, "acme", "schemathesis", "admin", actor=ACTOR).token
    yield Served(create_app(ctx, Settings(database_url=str(db.url)), secure_cookies=False), token)
    db.dispose()


def _document() -> dict[str, Any]:
    """The API's OpenAPI document, from an app on a database it never opens (the routes alone
    make the document: collection builds no world)."""
    idle = Context(
        outbound=LOOPBACK,
        db=Database("sqlite://"),
        box=SecretBox(Fernet.generate_key()),
        clock=lambda: datetime.now(UTC),
    )
    return create_app(idle, Settings(database_url="sqlite://"), secure_cookies=False).openapi()


def _pinned() -> dict[str, Any]:
    document = _document()
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "tenant":
                    parameter["schema"] = {"type": "string", "enum": ["acme"]}
    return document


cases = OperationCases(_pinned())
schema = cases.schema


@pytest.mark.slow
@cases.parametrize()
@settings(max_examples=examples(15), suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_as_documented(case: Any, served: Served) -> None:
    case.call_and_validate(
        app=served.app,
        headers={"Authorization": f"Bearer {served.token}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )


def test_the_schema_covers_every_route() -> None:
    operations = {f"{op.method.upper()} {op.path}" for op in (r.ok() for r in schema.get_all_operations())}
    assert "POST /api/v1/tenants/{tenant}/pushes" in operations
    assert "GET /api/v1/tenants/{tenant}/runs/{run_id}/changes" in operations
    assert len(operations) >= 55
