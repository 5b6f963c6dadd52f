"""ConnectWise client: read 10,000 companies and the additions of 2,000 agreements, concurrent vs serial.

cwsim runs in a subprocess on loopback with 50 ms latency on every ConnectWise call and its
rate limit off (the client's own limits apply: 900 a minute would make this a rate-limit test,
so the bench raises it and says so). Two readers do the same work:

* baseline, a serial loop as peer scripts do: page through companies with page/pageSize=1000,
  then one additions call per agreement, one at a time (plain httpx2, no retries);
* meterbridge's client: forward-only paging, and additions fetched concurrently within its
  concurrency limit (8).

Printed: calls and seconds for each, and the ratio serial/concurrent.
Run: ``.venv/bin/python bench/client_bench.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from cwsim_process import cwsim_server
from meterbridge.connectwise import ConnectionSettings, ConnectWiseClient


def scenario(companies: int, agreements: int) -> dict[str, Any]:
    return {
        "companies": [
            {"id": i, "identifier": f"C{i:05d}", "name": f"Company {i:05d}"} for i in range(1, companies + 1)
        ],
        "contacts": [{"id": i, "firstName": "Pat", "company": {"id": i}} for i in range(1, agreements + 1)],
        "agreementTypes": [{"name": "Backup Services", "prorateFlag": True}],
        "catalog": [
            {
                "identifier": "BACKUP-GB",
                "description": "Backup per GB",
                "price": 0.1,
                "cost": 0.04,
                "subcategory": {"name": "Backup"},
                "type": {"name": "Service"},
                "customerDescription": "Backup",
            }
        ],
        "agreements": [
            {
                "id": i,
                "name": f"Backup {i}",
                "type": {"name": "Backup Services"},
                "company": {"id": i},
                "billStartDate": "2026-01-01T00:00:00Z",
            }
            for i in range(1, agreements + 1)
        ],
        "additions": [
            {"agreementId": i, "product": {"identifier": "BACKUP-GB"}, "quantity": i, "billCustomer": "Billable"}
            for i in range(1, agreements + 1)
        ],
    }


async def serial(base: str, auth: tuple[str, str], headers: dict[str, str]) -> tuple[int, int, int, float]:
    calls = companies = additions = 0
    started = time.perf_counter()
    async with httpx2.AsyncClient(auth=auth, headers=headers, timeout=60) as http:
        page = 1
        while True:
            rows = (await http.get(f"{base}/company/companies", params={"pageSize": 1000, "page": page})).json()
            calls += 1
            companies += len(rows)
            if len(rows) < 1000:
                break
            page += 1
        agreements = []
        page = 1
        while True:
            rows = (await http.get(f"{base}/finance/agreements", params={"pageSize": 1000, "page": page})).json()
            calls += 1
            agreements.extend(rows)
            if len(rows) < 1000:
                break
            page += 1
        for agreement in agreements:
            additions += len((await http.get(f"{base}/finance/agreements/{agreement['id']}/additions")).json())
            calls += 1
    return calls, companies, additions, time.perf_counter() - started


async def concurrent(settings: ConnectionSettings) -> tuple[int, int, int, float]:
    started = time.perf_counter()
    async with ConnectWiseClient(settings) as client:
        companies = await client.companies()
        agreements = await client.agreements()
        additions = await client.additions_of_agreements(a.id for a in agreements if a.id)
        calls = client.stats.calls
        assert client.stats.retries == 0
    return calls, len(companies), sum(len(v) for v in additions.values()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--agreements", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="client-bench-"))
    scenario_file = workdir / "scenario.json"
    scenario_file.write_text(json.dumps(scenario(args.companies, args.agreements)))
    with cwsim_server(scenario_file, "--rate-limit", "0", "--latency-ms", str(args.latency_ms)) as (site, _):
        settings = ConnectionSettings(
            site=site,
            company_id="sim",
            public_key="simpub",
            private_key="simpriv",
            client_id="bench",
            codebase="v4_6_release/",
            rate_limit_per_minute=1_000_000,
        )
        base = f"{site}/v4_6_release/apis/3.0"
        headers = {"clientId": "bench", "Accept": "application/vnd.connectwise.com+json; version=2026.4"}
        print(
            f"cwsim with {args.latency_ms:.0f} ms latency per call: {args.companies} companies, "
            f"{args.agreements} agreements with one addition each; {os.cpu_count()} cores"
        )
        print("(client rate limit raised to 1,000,000/min so this measures concurrency, not the 900/min budget)")
        print()
        s_calls, s_companies, s_additions, s_seconds = asyncio.run(serial(base, ("sim+simpub", "simpriv"), headers))
        print(
            f"baseline serial loop      {s_calls:>6} calls  {s_seconds:8.2f} s  "
            f"companies {s_companies}, additions {s_additions}"
        )
        c_calls, c_companies, c_additions, c_seconds = asyncio.run(concurrent(settings))
        print(
            f"meterbridge client (8x)   {c_calls:>6} calls  {c_seconds:8.2f} s  "
            f"companies {c_companies}, additions {c_additions}"
        )
        if (s_companies, s_additions) != (c_companies, c_additions):
            raise SystemExit("the two readers disagree")
        print()
        print(f"ratio serial / concurrent seconds: {s_seconds / c_seconds:6.2f}")
        print(
            f"calls: serial {s_calls}, concurrent {c_calls} (floor: {args.agreements} additions calls "
            f"+ {-(-args.companies // 1000)} company pages + {-(-args.agreements // 1000)} agreement pages)"
        )


if __name__ == "__main__":
    main()
