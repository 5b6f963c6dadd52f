"""Scale bench: preview and push a month for 1,000, 10,000 and 100,000 customers x 3 products against cwsim.

The tenant is ``tests/support/scale_world.py``'s (shared with the scale test). Each size runs in
processes of its own (its peak RSS is its own) against a fresh cwsim in a
subprocess, no latency, cwsim's rate limit off and the tenant's at 1,000,000 a minute with 16
calls in flight: what is measured is meterbridge, not a politeness limit. Per customer: one
company, contact and backup agreement in cwsim; storage (GB), server and workstation licenses,
one configuration each, a sample each, on SQLite. Set-up (usage imported through the ingest
pipeline, configurations inserted as copies of one saved through the service, companies
imported and linked) is timed apart and not part of the figures.

Printed per size: preview and push wall time (and the CPU time of meterbridge's process: the
rest of the wall time is cwsim's work and waiting on it); ConnectWise calls and the floor (the chunked
agreement and catalog lists + one additions read per agreement + one write per create), calls
over the floor (goal <= 1.01); the process's peak RSS after the preview and after the push
(goal under 600 MB at 100,000, growing less than linearly); the time split by phase (read
database, price, read ConnectWise, plan, store, write). The ratio line compares each size with
the first (sizes x, time x, memory x): flat memory shows as a memory ratio far below the size one.
Run: ``.venv/bin/python bench/scale_bench.py [--sizes 1000,10000,100000]`` (100,000 takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tenant the scale test uses too

from tests.support.scale_world import ACTOR, PERIOD, scenario, set_up

from cwsim_process import LOOPBACK, cwsim_server
from meterbridge.services import connections, push
from meterbridge.services.context import Context
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

PHASES = ("read database", "price", "read ConnectWise", "plan", "store", "write")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def floor_of(calls: dict[str, Any], writes: int, agreements: int) -> int:
    endpoints = calls["endpoints"]
    lists = sum(endpoints.get(e, {}).get("calls", 0) for e in ("GET finance/agreements", "GET procurement/catalog"))
    return lists + agreements + writes


def prepare(n: int, workdir: Path) -> dict[str, Any]:
    """The scenario file and the database set up for ``n`` customers, in ``workdir``."""
    path = workdir / "scenario.json"
    path.write_text(json.dumps(scenario(n)))
    with cwsim_server(path, "--rate-limit", "0", timeout=600) as (base, _health):
        db = Database(f"sqlite:///{workdir / 'bench.db'}")
        db.upgrade()
        (workdir / "key").write_bytes(Fernet.generate_key())
        ctx = Context(
            outbound=LOOPBACK, db=db, box=SecretBox((workdir / "key").read_bytes()), clock=lambda: datetime.now(UTC)
        )
        started = time.perf_counter()
        set_up(ctx, base, n)
        seconds = time.perf_counter() - started
        db.dispose()
    return {"setup_seconds": seconds, "rss_setup": peak_rss_mib()}


def measure(n: int, workdir: Path) -> dict[str, Any]:
    """Preview then push the month set up in ``workdir``, against a cwsim serving the same scenario
    (a process of its own, so its peak RSS is the preview's and the push's alone)."""
    with cwsim_server(workdir / "scenario.json", "--rate-limit", "0", timeout=600) as (base, _health):
        db = Database(f"sqlite:///{workdir / 'bench.db'}")
        ctx = Context(
            outbound=LOOPBACK, db=db, box=SecretBox((workdir / "key").read_bytes()), clock=lambda: datetime.now(UTC)
        )
        connections.set_connection(
            ctx, "default", site=base, company_id="sim", public_key="simpub", private_key="simpriv",
            client_id="bench", actor=ACTOR,
        )  # fmt: skip
        rss_start = peak_rss_mib()
        started, cpu = time.perf_counter(), time.process_time()
        preview = asyncio.run(push.preview(ctx, "default", PERIOD, actor=ACTOR))
        preview_seconds, preview_cpu = time.perf_counter() - started, time.process_time() - cpu
        rss_preview = peak_rss_mib()
        assert preview.counts["create"] == 3 * n, preview.counts
        preview_phases = dict(preview.phases.seconds)
        preview_calls = preview.calls
        preview_floor = floor_of(_calls(ctx, preview.run), 0, n)
        del preview

        started, cpu = time.perf_counter(), time.process_time()
        pushed = asyncio.run(push.push(ctx, "default", PERIOD, force=True, actor=ACTOR))
        push_seconds, push_cpu = time.perf_counter() - started, time.process_time() - cpu
        rss_push = peak_rss_mib()
        assert pushed.status == "done", pushed.summary()
        assert pushed.counts["create"] == 3 * n
        push_phases = dict(pushed.phases.seconds)
        push_calls = pushed.calls
        push_floor = floor_of(_calls(ctx, pushed.run), 3 * n, n)
        db.dispose()
    return {
        "customers": n,
        "lines": 3 * n,
        "rss_start": rss_start,
        "preview": {
            "seconds": preview_seconds,
            "cpu": preview_cpu,
            "calls": preview_calls,
            "floor": preview_floor,
            "rss": rss_preview,
        },
        "push": {"seconds": push_seconds, "cpu": push_cpu, "calls": push_calls, "floor": push_floor, "rss": rss_push},
        "preview_phases": preview_phases,
        "push_phases": push_phases,
    }


def _child(*args: str) -> dict[str, Any]:
    child = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{child.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


def one(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        prepared = _child("--prepare", str(n), tmp)
        return {**_child("--measure", str(n), tmp), **prepared}


def _calls(ctx: Context, run_id: int) -> dict[str, Any]:
    from meterbridge.services import runs

    return runs.show_run_head(ctx, "default", run_id).calls


def _phases(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {phases[name]:.1f} s" for name in PHASES if name in phases)


def report(figures: dict[str, Any]) -> None:
    n = figures["customers"]
    print(
        f"{n:>7} customers x 3 products = {figures['lines']} lines (set-up {figures['setup_seconds']:.1f} s, "
        f"in a process of its own; the measuring process starts at {figures['rss_start']:.1f} MiB)"
    )
    for kind in ("preview", "push"):
        f = figures[kind]
        print(
            f"  {kind:<8} {f['seconds']:8.1f} s (meterbridge CPU {f['cpu']:7.1f} s)  "
            f"{figures['lines'] / f['seconds']:8.0f} lines/s  "
            f"calls {f['calls']:>7} / floor {f['floor']:>7} = {f['calls'] / f['floor']:.3f}  "
            f"peak RSS {f['rss']:7.1f} MiB"
        )
        print(f"           phases: {_phases(figures[f'{kind}_phases'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="customer counts, comma-separated")
    parser.add_argument("--prepare", nargs=2, help=argparse.SUPPRESS)  # child processes: N DIR, JSON out
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare or args.measure:
        n, workdir = args.prepare or args.measure
        work = prepare if args.prepare else measure
        print(json.dumps(work(int(n), Path(workdir))))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for n in sizes:
        figures = one(n)
        results.append(figures)
        report(figures)
    first = results[0]
    for figures in results[1:]:
        size = figures["customers"] / first["customers"]
        for kind in ("preview", "push"):
            time_ratio = figures[kind]["seconds"] / first[kind]["seconds"]
            memory_ratio = figures[kind]["rss"] / first[kind]["rss"]
            print(
                f"ratio {figures['customers']} to {first['customers']} customers, {kind}: size x{size:.0f}, "
                f"time x{time_ratio:.1f}, peak RSS x{memory_ratio:.2f}"
            )


if __name__ == "__main__":
    main()
