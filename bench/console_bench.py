"""The console at scale: server time of every page for a tenant of 1,000 customers.

Set-up (not measured): cwsim on loopback with a generated scenario of N companies, meterbridge on
SQLite with the demo's customers, products, prices, configurations and last month's usage for
each (about 2.3 configurations a customer), linked, previewed and pushed. Then each page is asked
for ``--repeat`` times over loopback by a signed-in admin; the median and the slowest answer are
printed (the time to the whole page, so an upper bound of the server's time).

Baseline: the console's budget, 300 ms a page at 1,000 customers (issue 13); the ratio is the
page's median over the budget (below 1.00 is within it).
Run: ``.venv/bin/python bench/console_bench.py [--customers N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import uvicorn
import yaml
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cwsim.generate import generate
from cwsim_process import LOOPBACK, cwsim_server, free_port
from meterbridge.domain.periods import Period
from meterbridge.services import accounts, companies, connections, demo, push, tenants
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.settings import Settings
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox
from meterbridge.web.app import create_app

BUDGET_MS = 300.0
ACTOR = Actor.system("console-bench")
PASSWORD = "bench password long enough"


def pages(run_preview: int, run_push: int) -> list[str]:
    base = "/console/t/bench"
    return [
        base,
        f"{base}/billing",
        f"{base}/billing?show=blocked",
        f"{base}/runs/{run_push}",
        f"{base}/runs",
        f"{base}/companies",
        f"{base}/companies?show=unlinked",
        f"{base}/companies?show=suggested",
        f"{base}/companies?show=failed&q=acct",
        f"{base}/products",
        f"{base}/configurations",
        f"{base}/configurations/new",
        f"{base}/usage",
        f"{base}/connection",
        f"{base}/companies/options?company=dent",
        f"{base}/customers/acct-0009",
    ]


def set_up(ctx: Context, site: str, period: Period) -> tuple[int, int]:
    tenants.init_tenant(ctx, "bench", actor=ACTOR)
    connections.set_connection(ctx, "bench", site=site, company_id="sim", public_key="simpub",
                               private_key="simpriv", client_id="bench", actor=ACTOR)  # fmt: skip
    asyncio.run(companies.import_companies(ctx, "bench", actor=ACTOR))
    demo.seed_demo(ctx, "bench", period, actor=ACTOR)
    companies.link_customers(ctx, "bench", actor=ACTOR)
    previewed = asyncio.run(push.preview(ctx, "bench", str(period), actor=ACTOR))
    pushed = asyncio.run(push.push(ctx, "bench", str(period), checksum=previewed.checksum, actor=ACTOR))
    accounts.add_member(ctx, "bench", "admin", "admin", password=PASSWORD, actor=ACTOR, operator=True)
    return previewed.run, pushed.run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    today = datetime.now(UTC)
    period = Period(today.year, today.month).previous()
    with tempfile.TemporaryDirectory() as scratch:
        scenario = Path(scratch) / "scenario.yaml"
        scenario.write_text(yaml.safe_dump(generate(args.customers, seed=1, as_of=today.date())))
        with cwsim_server(scenario, "--rate-limit", "0") as (site, _health):
            url = f"sqlite:///{scratch}/bench.db"
            db = Database(url)
            db.upgrade()
            ctx = Context(
                outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: datetime.now(UTC)
            )
            started = time.perf_counter()
            preview_run, push_run = set_up(ctx, site, period)
            print(f"set-up: {args.customers} customers, period {period}, {time.perf_counter() - started:.1f} s")
            app = create_app(ctx, Settings(database_url=url), secure_cookies=False)
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                                                   lifespan="off"))  # fmt: skip
            threading.Thread(target=server.run, daemon=True).start()
            while not server.started:
                time.sleep(0.05)
            with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
                signed = http.post("/console/sign-in", data={"username": "admin", "password": PASSWORD},
                                   follow_redirects=False)  # fmt: skip
                assert signed.status_code == 303, signed.text
                print(f"{'page':48} {'median ms':>10} {'max ms':>8} {'KiB':>6} {'ratio':>6}")
                worst = 0.0
                for path in pages(preview_run, push_run):
                    times, size = [], 0
                    for _ in range(args.repeat):
                        begun = time.perf_counter()
                        answer = http.get(path)
                        times.append((time.perf_counter() - begun) * 1000)
                        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                        size = len(answer.content)
                    median = statistics.median(times)
                    worst = max(worst, median)
                    print(f"{path:48} {median:10.1f} {max(times):8.1f} {size / 1024:6.0f} {median / BUDGET_MS:6.2f}")
                ratio = worst / BUDGET_MS
                print(f"slowest page median {worst:.1f} ms; ratio to the {BUDGET_MS:.0f} ms budget: {ratio:.2f}")
            server.should_exit = True
            db.dispose()


if __name__ == "__main__":
    main()
