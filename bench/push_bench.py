"""Push bench: a month for 1,000 customers against cwsim with 50 ms latency and a 1,000-a-minute limit.

Two pushes of the same work (one storage addition per customer, on each company's backup
agreement), each against a fresh cwsim in a subprocess:

* baseline, written here the way peer scripts walk it: company by company, serially: find the
  company, read its agreements, read the agreement's additions, write the addition (4 calls a
  customer; a 429 is waited out as its Retry-After says);
* meterbridge: ``services.push.push`` on SQLite (bulk agreement reads with chunked
  ``company/id in (...)``, additions per agreement concurrently, writes through the journal),
  with the tenant's client limit at 950 a minute, under cwsim's 1,000.

Printed: calls and seconds of each, the floor (agreements read + writes + the chunked agreement
lists), meterbridge's calls over the floor, and the ratio baseline/meterbridge in seconds.
Run: ``.venv/bin/python bench/push_bench.py`` (about 7 minutes; ``--customers 200`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
from cryptography.fernet import Fernet

from cwsim_process import LOOPBACK, cwsim_server
from meterbridge.services import (
    companies,
    configurations,
    connections,
    customers,
    prices,
    products,
    push,
    rules,
    runs,
    tenants,
    usage,
)
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

ACTOR = Actor.user("bench")

PERIOD = "2026-10"
HEADERS = {"clientId": "bench", "Accept": "application/vnd.connectwise.com+json; version=2026.4"}
AUTH = ("sim+simpub", "simpriv")


def scenario(customers: int) -> dict[str, Any]:
    return {
        "companies": [
            {"id": i, "identifier": f"C{i:05d}", "name": f"Company {i:05d}"} for i in range(1, customers + 1)
        ],
        "contacts": [{"id": i, "firstName": "Pat", "company": {"id": i}} for i in range(1, customers + 1)],
        "agreementTypes": [{"name": "Backup Services"}],
        "catalog": [
            {
                "identifier": "BACKUP-STORAGE-GB",
                "description": "Storage",
                "customerDescription": "Storage",
                "subcategory": {"name": "Backup"},
                "type": {"name": "Service"},
                "productClass": "Service",
                "price": 0.1,
            }
        ],
        "agreements": [
            {
                "id": i,
                "name": f"Backup - {i}",
                "type": {"name": "Backup Services"},
                "company": {"id": i},
                "contact": {"id": i},
                "startDate": "2025-01-01T00:00:00Z",
                "billStartDate": "2025-01-01T00:00:00Z",
            }
            for i in range(1, customers + 1)
        ],
    }


def quantity(i: int) -> Decimal:
    return Decimal(100 + i % 900) + Decimal("0.5")


def baseline(base: str, customers: int) -> tuple[int, float]:
    api = f"{base}/v4_6_release/apis/3.0"
    calls = 0
    started = time.perf_counter()
    with httpx2.Client(auth=AUTH, headers=HEADERS, timeout=60) as http:

        def call(method: str, path: str, **kwargs: Any) -> Any:
            nonlocal calls
            while True:
                calls += 1
                answer = http.request(method, f"{api}/{path}", **kwargs)
                if answer.status_code == 429:
                    time.sleep(float(answer.headers.get("Retry-After", "1")))
                    continue
                answer.raise_for_status()
                return answer.json()

        for i in range(1, customers + 1):
            [company] = call("GET", "company/companies", params={"conditions": f'identifier = "C{i:05d}"'})
            agreements = call(
                "GET",
                "finance/agreements",
                params={"conditions": f'company/id = {company["id"]} and type/name = "Backup Services"'},
            )
            agreement = agreements[0]["id"]
            existing = call("GET", f"finance/agreements/{agreement}/additions")
            if not any(a["product"]["identifier"] == "BACKUP-STORAGE-GB" for a in existing):
                call(
                    "POST",
                    f"finance/agreements/{agreement}/additions",
                    json={
                        "product": {"identifier": "BACKUP-STORAGE-GB"},
                        "quantity": float(quantity(i)),
                        "unitPrice": 0.1,
                        "billCustomer": "Billable",
                        "effectiveDate": "2026-10-01T00:00:00Z",
                    },
                )
    return calls, time.perf_counter() - started


def set_up(ctx: Context, base: str, count: int) -> None:
    t = tenants.DEFAULT_TENANT
    tenants.init_tenant(ctx, t, actor=ACTOR)
    tenants.update_settings(ctx, t, {"rate_limit_per_minute": 950, "max_concurrency": 8}, actor=ACTOR)
    connections.set_connection(
        ctx, t, site=base, company_id="sim", public_key="simpub", private_key="simpriv", client_id="bench", actor=ACTOR
    )
    asyncio.run(companies.import_companies(ctx, t, actor=ACTOR))
    products.save_product(
        ctx, t, "storage", kind="storage", unit="GB", basis="max", cw_product="BACKUP-STORAGE-GB", actor=ACTOR
    )
    prices.set_price(ctx, t, "storage", unit_price="0.10", actor=ACTOR)
    rules.save_rule(ctx, t, "default-agreement", 'type/name = "Backup Services"', actor=ACTOR)
    at = usage.parse_time("at", "2026-10-20T00:00:00Z")
    samples = []
    for i in range(1, count + 1):
        customers.add_customer(ctx, t, f"C{i:05d}", f"Company {i:05d}", actor=ACTOR)
        configurations.save_configuration(
            ctx, t, f"C{i:05d}", f"C{i:05d}-storage", {"products": ["storage"]}, actor=ACTOR
        )
        samples.append(usage.Sample(f"C{i:05d}", "storage", at, quantity(i), "GB"))
    usage.store_samples(ctx, t, samples, source="bench", actor=ACTOR)
    companies.link_customers(ctx, t, actor=ACTOR)


def meterbridge_push(base: str, customers: int, workdir: Path) -> tuple[int, float, dict[str, Any]]:
    db = Database(f"sqlite:///{workdir / 'bench.db'}")
    db.upgrade()
    ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: datetime.now(UTC))
    set_up(ctx, base, customers)
    started = time.perf_counter()
    outcome = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
    seconds = time.perf_counter() - started
    assert outcome.status == "done", outcome.summary()
    assert outcome.counts["create"] == customers
    [run] = runs.list_runs(ctx, "default", limit=1)
    db.dispose()
    return outcome.calls, seconds, run.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rate-limit", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "scenario.json"
        path.write_text(json.dumps(scenario(args.customers)))
        extra = ("--latency-ms", str(args.latency_ms), "--rate-limit", str(args.rate_limit))
        with cwsim_server(path, *extra) as (base, _health):
            mb_calls, mb_seconds, per_endpoint = meterbridge_push(base, args.customers, workdir)
        with cwsim_server(path, *extra) as (base, _health):
            naive_calls, naive_seconds = baseline(base, args.customers)
    lists = per_endpoint["endpoints"].get("GET finance/agreements", {}).get("calls", 0)
    floor = args.customers + args.customers + lists  # additions read per agreement + writes + agreement lists
    print(f"customers {args.customers}, cwsim latency {args.latency_ms:g} ms, limit {args.rate_limit}/min")
    print(f"baseline (company by company): {naive_calls} calls in {naive_seconds:.1f} s")
    print(f"meterbridge push:              {mb_calls} calls in {mb_seconds:.1f} s")
    print(f"floor (agreements read + writes + {lists} agreement list calls): {floor} calls")
    print(f"meterbridge calls / floor: {mb_calls / floor:.3f}")
    print(f"ratio baseline/meterbridge seconds: {naive_seconds / mb_seconds:.2f}; calls: {naive_calls / mb_calls:.2f}")
    print("meterbridge calls per endpoint:", json.dumps({k: v["calls"] for k, v in per_endpoint["endpoints"].items()}))


if __name__ == "__main__":
    main()
