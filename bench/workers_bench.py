"""Throughput of scheduled billing with 1 and with N `meterbridge worker` processes when
ConnectWise's latency is the bottleneck.

Each tenant pushes its month one call at a time (max_concurrency 1) against cwsim with
``--latency-ms`` on every request, so one worker bills tenants one after the other and N workers
bill N tenants at once (one push per tenant at a time, whatever the worker). Printed: tenants
billed a second at each worker count, and the ratio against the 1-worker baseline (goal: >= 3.5
at 4 workers). Needs PostgreSQL on 127.0.0.1:5432 (user postgres): each run gets a fresh database.

    .venv/bin/python bench/workers_bench.py --tenants 32 --customers 5 --latency-ms 200 --workers 1 4
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' many-tenant world

from tests.support import many_tenants

from cwsim_process import ALLOW, LOOPBACK, cwsim_server
from meterbridge.services.context import Context
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def workers_registered(url: str) -> int:
    with psycopg.connect(url) as connection:
        present = connection.execute("SELECT to_regclass('procrastinate_workers') IS NOT NULL").fetchone()
        if not present or not present[0]:
            return 0
        row = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        return int(row[0]) if row else 0


def one_run(workers: int, args: argparse.Namespace, base: str, home: Path) -> float:
    """Seconds from the schedules falling due to every tenant's month billed."""
    name = f"mb_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    key = Fernet.generate_key()
    db = Database(url)
    db.upgrade()
    ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(key), clock=lambda: datetime.now(UTC))
    now = datetime.now(UTC)
    period = many_tenants.billing_month(now)
    for j in range(args.tenants):
        many_tenants.configure(ctx, base, j, args.customers, period, concurrency=1)
    env = {
        **os.environ, "MBRIDGE_OUTBOUND_ALLOW": ALLOW, "MBRIDGE_DATABASE_URL": url, "MBRIDGE_SECRET_KEY": key.decode(),
        "MBRIDGE_HOME": str(home), "MBRIDGE_TICK_SECONDS": "1",
    }  # fmt: skip
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "meterbridge", "worker", "--name", f"w{k}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for k in range(workers)
    ]
    try:
        deadline = time.monotonic() + 60
        while workers_registered(url) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start")
            time.sleep(0.1)  # waiting for the workers to register, bounded by the deadline
        started = time.perf_counter()
        for j in range(args.tenants):
            many_tenants.schedule_monthly(ctx, j, now)
        while many_tenants.settled(ctx) < args.tenants:
            if time.perf_counter() - started > args.timeout:
                raise SystemExit(f"not every tenant was billed in {args.timeout} s")
            time.sleep(0.2)  # polling for the months to be billed (one count query: the bench stays out of the way)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        db.dispose()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=32)
    parser.add_argument("--customers", type=int, default=5, help="customers (one addition each) per tenant")
    parser.add_argument("--latency-ms", type=float, default=200.0, help="cwsim's latency on every request")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scenario.json"
        scenario.write_text(json.dumps(many_tenants.scenario(args.tenants, args.customers)))
        results: dict[int, float] = {}
        for count in args.workers:
            # a fresh cwsim per run: every run bills the same untouched months
            with cwsim_server(scenario, "--latency-ms", str(args.latency_ms), "--rate-limit", "0") as (base, _):
                results[count] = one_run(count, args, base, Path(tmp) / f"home-{count}")
            rate = args.tenants / results[count]
            print(f"{count} worker(s): {args.tenants} tenants billed in {results[count]:.2f} s, {rate:.2f} tenants/s")
    baseline = results[args.workers[0]]
    for count in args.workers[1:]:
        print(
            f"ratio {count} workers / {args.workers[0]}: {baseline / results[count]:.2f}x "
            f"(goal >= 3.5x at 4 workers; latency {args.latency_ms:g} ms, {args.customers} customers a tenant)"
        )


if __name__ == "__main__":
    main()
