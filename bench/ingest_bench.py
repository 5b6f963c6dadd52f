"""Streaming usage import: rows a second and peak memory for a usage CSV of N rows, on SQLite and PostgreSQL.

The file (not timed; written once per size to a temporary directory): 10,000 customers x 2 products
(storage in GB with 2 decimals, server licenses as whole counts), one sample a day at 23:00Z back
from 2026-10-31, as many days as N needs, every row with a customer_name (so the first import
creates the customers). Each database is fresh per size (a SQLite file; a new PostgreSQL database
on 127.0.0.1:5432, user postgres), set up with a tenant and the two products. Measured, each in a
fresh subprocess, so each peak resident memory (the child's high-water mark at its end: VmHWM,
as ru_maxrss would also count the parent's memory at the fork) is that run's own:

* import: ``services.imports.import_file`` of the file, mode all (every row is added);
* re-import: the same file again (every row unchanged);
* baseline: ``csv.reader`` over the same file and its text inserted untouched into a bare table
  (``executemany`` on SQLite, ``COPY`` on PostgreSQL) in one transaction: the least a streaming
  import must do; the ratio says how many times that the import takes.

Goals: >= 50,000 rows/s on SQLite, peak RSS under 200 MiB, flat in the row count (the peak at
the largest size over the peak at the smallest).
Run: ``.venv/bin/python bench/ingest_bench.py [--rows 100000 1000000] [--databases sqlite,postgresql]``
(a few minutes at the default sizes).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fresh databases

from tests.support.databases import PG_ADMIN, fresh_database, postgres_available

from cwsim_process import LOOPBACK
from meterbridge.services import imports, products, tenants
from meterbridge.services.actors import Actor
from meterbridge.services.context import Context
from meterbridge.services.ingest import Mode
from meterbridge.store.database import Database
from meterbridge.store.secrets import SecretBox

ACTOR = Actor.user("bench")
TENANT = "default"
NOW = datetime(2026, 11, 3, 9, tzinfo=UTC)  # the clock: every sample is before it
LAST_DAY = datetime(2026, 10, 31, 23, tzinfo=UTC)
CUSTOMERS = 10_000
GOAL_ROWS_PER_SECOND = 50_000  # on SQLite
GOAL_PEAK_MIB = 200
HEADER = "customer,product,measured_at,quantity,unit,customer_name\n"


def write_file(path: Path, rows: int) -> None:
    """``rows`` usage rows: day by day (newest first), customer by customer, storage then server."""
    customers = max(1, min(CUSTOMERS, rows // 2))
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        day = 0
        while written < rows:
            at = (LAST_DAY - timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines = []
            for i in range(customers):
                if written >= rows:
                    break
                customer, name = f"C{i:05d}", f"Customer {i:05d}"
                gb = f"{100 + (i * 37 + day * 11) % 4900}.{(i + day) % 100:02d}"
                lines.append(f"{customer},storage,{at},{gb},GB,{name}\n")
                written += 1
                if written < rows:
                    lines.append(f"{customer},server,{at},{(i + day) % 20},count,{name}\n")
                    written += 1
            out.write("".join(lines))
            day += 1


@contextmanager
def fresh_tenant_database(kind: str, workdir: Path) -> Iterator[str]:
    """A new database (the tests' own, tests/support/databases.py) with the schema, the tenant and
    the two products (not timed)."""
    place = workdir / f"db-{uuid.uuid4().hex[:8]}"
    place.mkdir()
    with fresh_database(kind, place) as url:
        db = Database(url)
        db.upgrade()
        ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: NOW)
        tenants.init_tenant(ctx, TENANT, actor=ACTOR)
        products.save_product(ctx, TENANT, "storage", name="Storage", kind="storage", unit="GB", basis="max",
                              actor=ACTOR)  # fmt: skip
        products.save_product(ctx, TENANT, "server", name="Server", kind="license", unit="count", basis="last",
                              actor=ACTOR)  # fmt: skip
        db.dispose()
        yield url


def peak_rss_mib() -> float:
    """This process's own peak resident memory. Linux's ru_maxrss (KiB) also counts the parent's
    resident memory at the fork (it survives the exec), so the memory map's own high-water mark
    (VmHWM) is read where there is one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_import(url: str, path: Path) -> dict[str, Any]:
    db = Database(url)
    ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: NOW)
    with db.session() as session:  # connect before measuring: the floor is the loaded process
        session.connection()
    before = peak_rss_mib()
    started = time.perf_counter()
    with path.open("rb") as stream:
        view = imports.import_file(ctx, TENANT, stream, actor=ACTOR, source="bench", name=path.name, mode=Mode.ALL)
    seconds = time.perf_counter() - started
    db.dispose()
    assert view.status == "done", (view.status, view.message, view.errors[:3])
    return {"seconds": seconds, "rows": view.rows, "added": view.added, "replaced": view.replaced,
            "unchanged": view.unchanged, "new_customers": len(view.new_customers), "before": before}  # fmt: skip


def child_baseline(url: str, path: Path) -> dict[str, Any]:
    db = Database(url)
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        before = peak_rss_mib()
        started = time.perf_counter()
        rows = 0
        columns = "customer, product, measured_at, quantity, unit, customer_name"
        with path.open(encoding="utf-8", newline="") as text:
            reader = csv.reader(text)
            next(reader)
            if db.engine.dialect.name == "postgresql":
                with raw.cursor() as cursor:
                    cursor.execute(f"CREATE TEMPORARY TABLE floor ({columns.replace(',', ' text,')} text)")
                    with cursor.copy(f"COPY floor ({columns}) FROM STDIN") as copy:
                        for cells in reader:
                            copy.write_row(cells)
                            rows += 1
                raw.commit()
            else:
                cursor = raw.cursor()
                cursor.execute(f"CREATE TEMPORARY TABLE floor ({columns.replace(',', ' text,')} text)")
                batch: list[list[str]] = []
                for cells in reader:
                    batch.append(cells)
                    if len(batch) >= 5000:
                        cursor.executemany("INSERT INTO floor VALUES (?, ?, ?, ?, ?, ?)", batch)
                        rows += len(batch)
                        batch = []
                cursor.executemany("INSERT INTO floor VALUES (?, ?, ?, ?, ?, ?)", batch)
                rows += len(batch)
                raw.commit()
                cursor.close()
        seconds = time.perf_counter() - started
    db.dispose()
    return {"seconds": seconds, "rows": rows, "before": before}


def run_child(kind: str, url: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--url", url, "--file", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the {kind} child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def child_main(kind: str, url: str, path: Path) -> None:
    result = child_import(url, path) if kind == "import" else child_baseline(url, path)
    result["peak"] = peak_rss_mib()  # the child's own peak: this one run
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--child", choices=["import", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.url, args.file)
        return
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    for kind in kinds:
        if kind not in ("sqlite", "postgresql"):
            raise SystemExit(f"--databases: {kind!r} is not sqlite or postgresql")
    if "postgresql" in kinds and not postgres_available():
        raise SystemExit(f"PostgreSQL is not reachable at {PG_ADMIN}; run with --databases sqlite")
    sizes = sorted(set(args.rows))
    print(f"usage CSV: {min(CUSTOMERS, max(sizes) // 2)} customers x 2 products x days as needed; clock {NOW:%Y-%m-%d}")
    print("each figure from its own subprocess; peak RSS is that process's own (VmHWM; before: loaded and connected)")
    print()
    header = (f"{'database':<10} {'run':<10} {'rows':>9} {'seconds':>8} {'rows/s':>9} "
              f"{'peak RSS MiB':>12} {'before':>7}  goal")  # fmt: skip
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, int, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for rows in sizes:
            path = workdir / f"usage-{rows}.csv"
            write_file(path, rows)
            for kind in kinds:
                with fresh_tenant_database(kind, workdir) as url:
                    first = run_child("import", url, path)
                    assert (first["rows"], first["added"]) == (rows, rows), first
                    again = run_child("import", url, path)
                    assert (again["rows"], again["unchanged"]) == (rows, rows), again
                with fresh_tenant_database(kind, workdir) as url:
                    floor = run_child("baseline", url, path)
                for run, result in (("import", first), ("re-import", again), ("baseline", floor)):
                    results[(kind, rows, run)] = result
                    rate = rows / result["seconds"]
                    goals = []
                    if run != "baseline":
                        if kind == "sqlite":
                            goals.append(f"rows/s {'ok' if rate >= GOAL_ROWS_PER_SECOND else 'MISSED'} "
                                         f"(>= {GOAL_ROWS_PER_SECOND:,})")  # fmt: skip
                        goals.append(f"RSS {'ok' if result['peak'] < GOAL_PEAK_MIB else 'MISSED'} (< {GOAL_PEAK_MIB})")
                    print(
                        f"{kind:<10} {run:<10} {rows:>9} {result['seconds']:>8.2f} {rate:>9.0f} "
                        f"{result['peak']:>12.1f} {result['before']:>7.1f}  {'; '.join(goals)}",
                        flush=True,
                    )
    print()
    for kind in kinds:
        for rows in sizes:
            imported, floor = results[(kind, rows, "import")], results[(kind, rows, "baseline")]
            again = results[(kind, rows, "re-import")]
            print(
                f"{kind} {rows:,} rows: ratio import/baseline seconds {imported['seconds'] / floor['seconds']:.2f}x, "
                f"re-import/baseline {again['seconds'] / floor['seconds']:.2f}x "
                f"(baseline: csv.reader + raw insert of the text, {rows / floor['seconds']:,.0f} rows/s)"
            )
        if len(sizes) > 1:
            small, large = sizes[0], sizes[-1]
            peak_small, peak_large = results[(kind, small, "import")]["peak"], results[(kind, large, "import")]["peak"]
            re_small = results[(kind, small, "re-import")]["peak"]
            re_large = results[(kind, large, "re-import")]["peak"]
            growth_small = peak_small - results[(kind, small, "import")]["before"]
            growth_large = peak_large - results[(kind, large, "import")]["before"]
            print(
                f"{kind} flat: peak at {large:,} rows / peak at {small:,} rows = {peak_large / peak_small:.2f} "
                f"(re-import {re_large / re_small:.2f}; the import's own growth over the loaded process "
                f"{growth_small:.1f} -> {growth_large:.1f} MiB; goal: about 1, flat in the row count)"
            )


if __name__ == "__main__":
    main()
