"""Rate-limit bench: the demo's push with 8 writers against cwsim limited to 60 and to 600 calls a minute.

Each run is the demo (``scripts/demo``) at a size: cwsim in a subprocess on loopback serving a
generated scenario of N companies, meterbridge on SQLite set up as ``demo seed`` does, with the
tenant's defaults (8 calls in flight, its own limit 900 a minute: above cwsim's, so only
ConnectWise's 429s tell the client to slow down). Everything before the push runs with cwsim's
limit off; then the limit is set (``PATCH /_sim/settings``) and the push starts.

cwsim's limiter is a token bucket per API member that starts full: a burst of ``limit`` calls
is answered at once, then ``limit / 60`` a second. So the floor printed is honest about the
burst: ``floor = (answered calls - limit) / (limit / 60)`` seconds, the least time in which
cwsim would answer those calls however they were sent. Answered calls are what cwsim
answered other than 429 (a 429 spends no token). A run whose calls fit in the burst has no floor.

Printed per run: companies, calls (answered and 429), the limit, seconds, the floor, the ratio
time / floor (goal <= 1.15), how the client slowed down (``client.pacing``), the companies that
failed or partly failed (goal 0) and all of them by status (the demo's customers that match no
ConnectWise company are blocked, by design).
Run: ``.venv/bin/python bench/ratelimit_bench.py`` (about 4 minutes); a quick look:
``--runs 60:18`` (a few seconds just past the burst; a floor that short is mostly Retry-After rounding).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from cryptography.fernet import Fernet

from cwsim.generate import generate
from cwsim_process import LOOPBACK, cwsim_server
from meterbridge.connectwise import ConnectionSettings, ConnectWiseClient
from meterbridge.services import companies, connections, demo, push, tenants
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.services.scope import parse_period
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

ACTOR = Actor.user("bench")
TENANT = tenants.DEFAULT_TENANT


@dataclass
class BenchContext(Context):
    """The push's context, keeping the ConnectWise clients it makes: the bench prints how the
    push's client slowed down (``client.pacing``)."""

    clients: list[ConnectWiseClient] = field(default_factory=list)

    def client(self, settings: ConnectionSettings) -> ConnectWiseClient:
        made = super().client(settings)
        self.clients.append(made)
        return made


@dataclass
class Run:
    limit: int
    companies: int
    seconds: float
    answered: int
    throttled: int
    failed: list[str]
    status: str
    by_status: dict[str, int]
    pacing: dict[str, Any]

    @property
    def floor(self) -> float | None:
        over = self.answered - self.limit  # the burst cwsim's full bucket answers at once
        return over / (self.limit / 60) if over > 0 else None


def last_month() -> str:
    first = datetime.now(UTC).date().replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def set_up(ctx: Context, base: str, period: str) -> None:
    """What scripts/demo does before its push: init, connection, import, demo seed, link."""
    tenants.init_tenant(ctx, TENANT, actor=ACTOR)
    connections.set_connection(
        ctx, TENANT, site=base, company_id="sim", public_key="simpub", private_key="simpriv", client_id="bench",
        actor=ACTOR,
    )  # fmt: skip
    asyncio.run(companies.import_companies(ctx, TENANT, actor=ACTOR))
    demo.seed_demo(ctx, TENANT, parse_period(period), actor=ACTOR)
    companies.link_customers(ctx, TENANT, actor=ACTOR)


def one_run(limit: int, count: int, latency_ms: float, workdir: Path) -> Run:
    scenario = workdir / f"scenario-{limit}-{count}.json"
    scenario.write_text(json.dumps(generate(count, 1, datetime.now(UTC).date())))
    period = last_month()
    with cwsim_server(scenario, "--rate-limit", "0", "--latency-ms", str(latency_ms)) as (base, _health):
        db = Database(f"sqlite:///{workdir / f'bench-{limit}-{count}.db'}")
        db.upgrade()
        ctx = BenchContext(
            outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: datetime.now(UTC)
        )
        set_up(ctx, base, period)
        with httpx2.Client(base_url=base, timeout=10) as admin:
            admin.patch("/_sim/settings", json={"rate_limit_per_minute": limit}).raise_for_status()
            admin.delete("/_sim/requests").raise_for_status()
            started = time.perf_counter()
            outcome = asyncio.run(push.push(ctx, TENANT, period, force=True, actor=ACTOR))
            seconds = time.perf_counter() - started
            counted = Counter[int]()
            for endpoint in admin.get("/_sim/counters").json()["endpoints"]:
                if not endpoint["path"].startswith("login/"):  # the codebase look-up spends no token
                    counted.update({int(k): v for k, v in endpoint["statuses"].items()})
        db.dispose()
    failed = sorted(c for c, v in outcome.companies.items() if v.status in ("failed", "partial"))
    by_status = Counter(str(v.status.value) for v in outcome.companies.values())
    pacing = ctx.clients[-1].pacing
    answered = sum(n for status, n in counted.items() if status != 429)
    return Run(limit, count, seconds, answered, counted[429], failed, outcome.status, dict(by_status), pacing.as_dict())


def report(run: Run) -> None:
    floor = run.floor
    print(f"limit {run.limit}/min, {run.companies} companies: push {run.status} in {run.seconds:.1f} s")
    print(f"  calls {run.answered + run.throttled} ({run.answered} answered, {run.throttled} answered 429)")
    if floor is None:
        print(f"  floor: none, the {run.answered} answered calls fit in cwsim's burst of {run.limit}; ratio n/a")
    else:
        print(
            f"  floor (answered - burst {run.limit}) / {run.limit / 60:g} a second: {floor:.1f} s; "
            f"ratio time/floor {run.seconds / floor:.3f} (goal <= 1.15)"
        )
    print(f"  failed companies: {len(run.failed)} (goal 0){': ' + ', '.join(run.failed) if run.failed else ''}")
    print("  companies by status:", json.dumps(run.by_status, sort_keys=True))
    if run.pacing:
        print("  pacing:", json.dumps(run.pacing))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", default="60:50,600:500", help="limit:companies pairs, comma-separated (default 60:50,600:500)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    runs = [tuple(int(x) for x in pair.split(":")) for pair in args.runs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for limit, count in runs:
            report(one_run(limit, count, args.latency_ms, Path(tmp)))


if __name__ == "__main__":
    main()
