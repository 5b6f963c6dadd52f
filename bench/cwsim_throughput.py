"""cwsim throughput: requests per second for listing 1,000 companies and for addition writes.

Starts ``cwsim serve`` in a subprocess on a loopback port with a generated scenario (1,000
companies, rate limit off, no latency) and drives it with httpx2 over real HTTP, ``--concurrency``
requests in flight. The baseline is cwsim's own no-op endpoint (``/_sim/health``, no auth, no
ConnectWise work), so the ratios show what the ConnectWise behaviour costs on top of serving
HTTP at all. Run: ``.venv/bin/python bench/cwsim_throughput.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2

from cwsim_process import cwsim_server

HEADERS = {
    "Authorization": "Basic " + base64.b64encode(b"sim+simpub:simpriv").decode(),
    "clientId": "bench",
    "Accept": "application/vnd.connectwise.com+json; version=2026.4",
}


async def measure(
    label: str, count: int, concurrency: int, call: Callable[[int], Awaitable[httpx2.Response]], expect: int
) -> float:
    semaphore = asyncio.Semaphore(concurrency)
    statuses: dict[int, int] = {}

    async def one(index: int) -> None:
        async with semaphore:
            response = await call(index)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    rate = count / elapsed
    if statuses != {expect: count}:
        raise SystemExit(f"{label}: unexpected statuses {statuses}")
    print(f"{label:<44} {count:>6} requests  {elapsed:7.2f} s  {rate:9.1f} req/s")
    return rate


async def run(base: str, concurrency: int, lists: int, writes: int) -> None:
    api = f"{base}/v4_6_release/apis/3.0"
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(headers=HEADERS, limits=limits, timeout=60) as client:
        probe = await client.get(f"{api}/company/companies", params={"pageSize": 1000})
        if len(probe.json()) != 1000:
            raise SystemExit("the scenario should hold 1,000 companies")
        agreements = await client.get(
            f"{api}/finance/agreements",
            params={"pageSize": 1000, "conditions": 'cancelledFlag = false and type/name = "Backup Services"'},
        )
        agreement_ids = [a["id"] for a in agreements.json()]

        baseline = await measure(
            "baseline: GET /_sim/health", lists * 5, concurrency, lambda i: client.get(f"{base}/_sim/health"), 200
        )
        listing = await measure(
            "GET company/companies?pageSize=1000",
            lists,
            concurrency,
            lambda i: client.get(f"{api}/company/companies", params={"pageSize": 1000}),
            200,
        )
        filtered = await measure(
            "GET company/companies, conditions, pageSize=1000",
            lists,
            concurrency,
            lambda i: client.get(
                f"{api}/company/companies", params={"pageSize": 1000, "conditions": "name like '%a%' or id > 500"}
            ),
            200,
        )

        def post_addition(i: int) -> Awaitable[httpx2.Response]:
            agreement = agreement_ids[i % len(agreement_ids)]
            body = {
                "product": {"identifier": "BACKUP-STORAGE-GB"},
                "billCustomer": "Billable",
                "quantity": i + 0.5,
                "effectiveDate": "2026-11-01T00:00:00Z",
            }
            return client.post(f"{api}/finance/agreements/{agreement}/additions", json=body)

        writes_rate = await measure("POST finance/agreements/{id}/additions", writes, concurrency, post_addition, 201)

        created = (await client.get(f"{api}/finance/agreements/{agreement_ids[0]}/additions")).json()
        target = created[-1]["id"]

        def patch_addition(i: int) -> Awaitable[httpx2.Response]:
            return client.patch(
                f"{api}/finance/agreements/{agreement_ids[0]}/additions/{target}",
                json=[{"op": "replace", "path": "quantity", "value": i}],
            )

        patch_rate = await measure(
            "PATCH finance/agreements/{id}/additions/{id}", writes, concurrency, patch_addition, 200
        )

    print()
    print(f"records served per second listing 1,000 companies: {listing * 1000:,.0f}")
    for label, rate in (
        ("list 1,000 companies", listing),
        ("list with conditions", filtered),
        ("addition POST", writes_rate),
        ("addition PATCH", patch_rate),
    ):
        print(f"ratio {label:<22} to baseline: {rate / baseline:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lists", type=int, default=200, help="list requests per measurement")
    parser.add_argument("--writes", type=int, default=2000, help="write requests per measurement")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cwsim-bench-"))
    scenario = workdir / "scenario.json"
    cwsim = [sys.executable, "-m", "cwsim"]
    subprocess.run(
        [*cwsim, "generate", "--companies", "1000", "--seed", "1", "--as-of", "2026-11-15", "--out", str(scenario)],
        check=True,
        capture_output=True,
    )
    with cwsim_server(scenario, "--rate-limit", "0") as (base, health):
        print(f"cwsim on {base}: {json.dumps(health['records'])}")
        print(
            f"concurrency {args.concurrency}, one uvicorn worker, python {sys.version.split()[0]}, "
            f"{os.cpu_count()} cores"
        )
        print()
        asyncio.run(run(base, args.concurrency, args.lists, args.writes))


if __name__ == "__main__":
    main()
