"""A push of the demo against cwsim limited to 60 calls a minute, over real loopback HTTP and in
real time (issue 29): its 8 writers slow down (every request waits out a Retry-After, fewer in
flight, the rate ConnectWise grants learnt) instead of retrying at full width, no company fails
for it, and the push takes about the least time cwsim allows."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from tests.support.actors import ACTOR
from tests.support.contract import ContractLog, ContractMiddleware
from tests.support.loopback import LOOPBACK
from tests.support.server import serve

from cwsim.app import create_app
from cwsim.generate import generate
from cwsim.scenario import load_scenario
from cwsim.sim import Simulator
from cwsim.state import SimSettings
from meterbridge.connectwise import ConnectionSettings, ConnectWiseClient
from meterbridge.services import companies, connections, demo, push, tenants
from meterbridge.services.context import Context
from meterbridge.services.errors import InvalidInput
from meterbridge.services.scope import open_tenant, parse_period
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

#: the demo's companies, fewer: its push answers about 75 calls, 60 of them in cwsim's burst
COMPANIES = 26
LIMIT = 60


@dataclass
class Keeping(Context):
    """The context, keeping the ConnectWise clients it makes: the test reads how the push's paced itself."""

    clients: list[ConnectWiseClient] = field(default_factory=list)

    def client(self, settings: ConnectionSettings) -> ConnectWiseClient:
        made = super().client(settings)
        self.clients.append(made)
        return made


@pytest.mark.slow
@pytest.mark.parametrize("database_kind", ["sqlite"])  # the pacing is the client's: the same on either database
def test_a_push_at_60_a_minute_slows_down_and_fails_no_company(
    database_url: str, contract_log: ContractLog, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date()
    period = f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"
    sim = Simulator.create(SimSettings(rate_limit_per_minute=0), clock=lambda: datetime.now(UTC), seed=7)
    load_scenario(sim, generate(COMPANIES, 1, today))
    db = Database(database_url)
    with serve(ContractMiddleware(create_app(sim), contract_log)) as url:
        ctx = Keeping(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: datetime.now(UTC))
        tenants.init_tenant(ctx, "default", actor=ACTOR)  # its defaults: 8 in flight, its own limit 900 a minute
        connections.set_connection(
            ctx, "default", site=url, company_id="sim", public_key="simpub", private_key="simpriv", client_id="t",
            actor=ACTOR,
        )  # fmt: skip
        asyncio.run(companies.import_companies(ctx, "default", actor=ACTOR))
        demo.seed_demo(ctx, "default", parse_period(period), actor=ACTOR)
        companies.link_customers(ctx, "default", actor=ACTOR)
        sim.state.settings.rate_limit_per_minute = LIMIT
        sim.limiter.configure(LIMIT)  # a full bucket: 60 at once, then one a second
        sim.traffic.clear()
        started = time.monotonic()
        outcome = asyncio.run(push.push(ctx, "default", period, force=True, actor=ACTOR))
        seconds = time.monotonic() - started
    db.dispose()
    statuses: Counter[int] = Counter()
    for endpoint in sim.traffic.counters()["endpoints"]:
        if not endpoint["path"].startswith("login/"):  # the codebase look-up spends no token
            statuses.update({int(status): n for status, n in endpoint["statuses"].items()})
    answered, throttled = sum(statuses.values()) - statuses[429], statuses[429]
    floor = (answered - LIMIT) / (LIMIT / 60)

    by_status = Counter(entry.status.value for entry in outcome.companies.values())
    assert set(by_status) <= {"ok", "blocked"}, by_status  # blocked: the demo's customers no company matches
    assert by_status["ok"] >= COMPANIES - 4
    assert floor >= 10, "the push outlasts cwsim's burst: it is rate limited"
    pacing = ctx.clients[-1].pacing
    assert 0 < throttled == ctx.clients[-1].stats.rate_limited
    assert throttled <= 8 + 3 * pacing.slowdowns, "each slowdown throttles what was in flight, no more"
    assert pacing.slowdowns >= 2 and pacing.lowest_in_flight_limit < 8 and pacing.paused_seconds >= 1
    assert pacing.lowest_per_minute is not None and pacing.lowest_per_minute <= 70, "it learnt about 60 a minute"
    assert floor <= seconds <= floor * 1.25 + 2, f"{seconds:.1f} s for a floor of {floor:.1f} s"


@pytest.mark.parametrize("database_kind", ["sqlite"])
def test_the_patience_is_a_tenant_setting_the_push_client_gets(database_url: str) -> None:
    db = Database(database_url)
    ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: datetime.now(UTC))
    tenants.init_tenant(ctx, "default", actor=ACTOR)
    connections.set_connection(
        ctx, "default", site="na.myconnectwise.net", company_id="acme", public_key="pub", private_key="priv",
        client_id="t", actor=ACTOR,
    )  # fmt: skip
    assert open_tenant(ctx, "default").connection().rate_limit_patience_seconds == 600
    tenants.update_settings(ctx, "default", {"rate_limit_patience_seconds": 1800}, actor=ACTOR)
    assert open_tenant(ctx, "default").connection().rate_limit_patience_seconds == 1800
    with pytest.raises(InvalidInput) as refused:
        tenants.update_settings(ctx, "default", {"rate_limit_patience_seconds": 5}, actor=ACTOR)
    assert refused.value.field == "rate_limit_patience_seconds" and "10" in str(refused.value)
    assert open_tenant(ctx, "default").connection().rate_limit_patience_seconds == 1800, (
        "the refused one changed nothing"
    )
    db.dispose()
