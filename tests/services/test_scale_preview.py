"""A vendor's tenant: 30,000 customers linked to 30,000 ConnectWise companies, previewed against
cwsim over loopback HTTP without error, at the API-call floor (chunked agreement lists, one
additions read per agreement), no request URL over ConnectWise's limit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from tests.support.actors import ACTOR
from tests.support.loopback import LOOPBACK
from tests.support.scale_world import PERIOD, scenario, set_up
from tests.support.server import serve

from cwsim.app import create_app
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.connectwise.client import MAX_URL_LENGTH
from meterbridge.services import push, runs
from meterbridge.services.context import Context
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

pytestmark = pytest.mark.slow
COMPANIES = 30_000


@pytest.fixture
def vendor(tmp_path: Path) -> Iterator[tuple[Context, list[str]]]:
    sim = Simulator.create(SimSettings(rate_limit_per_minute=0), clock=lambda: datetime.now(UTC))
    load_scenario(sim, scenario(COMPANIES))
    seen: list[str] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            seen.append(scope["raw_path"].decode() + "?" + scope["query_string"].decode())
        await cwsim(scope, receive, send)

    cwsim = create_app(sim)
    with serve(app) as url:
        db = Database(f"sqlite:///{tmp_path / 'scale.db'}")
        db.upgrade()
        ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: datetime.now(UTC))
        set_up(ctx, url, COMPANIES, keys=("storage",))
        seen.clear()
        yield ctx, seen
        db.dispose()


def test_a_preview_of_30000_linked_companies_completes_at_the_call_floor(vendor: tuple[Context, list[str]]) -> None:
    ctx, seen = vendor
    outcome = asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR))
    assert outcome.status == "previewed"
    assert outcome.counts["create"] == COMPANIES
    assert outcome.counts["blocked"] == 0
    [run] = runs.list_runs(ctx, "default", limit=1)
    assert run.status == "previewed"
    endpoints = run.calls["endpoints"]
    lists = endpoints["GET finance/agreements"]["calls"]
    assert lists > 1, "30,000 companies do not fit one URL: the agreement list is chunked"
    assert endpoints["GET finance/agreements/{id}/additions"]["calls"] == COMPANIES
    floor = lists + endpoints["GET procurement/catalog"]["calls"] + COMPANIES
    assert run.calls["total"] <= floor * 1.01, run.calls
    assert len(seen) == run.calls["total"]
    assert max(len(target.encode()) for target in seen) <= MAX_URL_LENGTH
