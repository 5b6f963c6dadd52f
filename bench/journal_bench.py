"""Journal: CPU a landed create costs meterbridge's database work, against the same statements in plain sqlite3.

What a push records for every create that lands, as its journal thread does it (a fresh SQLite
file, the schema migrated): the intent before the write, then the result, the plan item's status
and addition id, and the addition's identity; the fence (the lease renewed) once a commit, 8
intents a commit and 8 results a commit, as the group commit carries them with 8 writers.
Baseline: the same rows written with ``sqlite3`` and hand-written SQL (INSERT, UPDATE ...
RETURNING, json_set, INSERT ... ON CONFLICT), the least any journal on SQLite does.
Printed: CPU seconds and milliseconds a landed create for each, and the ratio.
Run: ``.venv/bin/python bench/journal_bench.py [--creates N]``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from cwsim_process import LOOPBACK
from meterbridge.connectwise.models import Addition
from meterbridge.services.context import Context
from meterbridge.services.journal import add_intent, add_result
from meterbridge.services.lease import acquire
from meterbridge.store.database import Database
from meterbridge.store.models import LineIdentity, PlanItem, Tenant
from meterbridge.store.repos import runs
from meterbridge.store.secrets import SecretBox

NOW = datetime(2026, 11, 2, tzinfo=UTC)
GROUP = 8
PAYLOAD = {
    "kind": "create",
    "values": {"quantity": "3", "unitPrice": "12.00", "product": "BACKUP-GB"},
    "explanation": [{"step": "usage", "detail": "Cloud storage: 3 GB (price list)", "value": "3"}] * 8,
}


def key(n: int) -> str:
    return f"cust{n:06d}/cust{n:06d}-storage/BACKUP-GB/running"


def meterbridge(creates: int, workdir: Path) -> float:
    import asyncio

    db = Database(f"sqlite:///{workdir / 'journal.db'}")
    db.upgrade()
    ctx = Context(outbound=LOOPBACK, db=db, box=SecretBox(Fernet.generate_key()), clock=lambda: NOW)
    with db.session() as session:
        tenant = Tenant(key="msp", name="msp", time_zone="UTC", created_at=NOW)
        session.add(tenant)
        session.flush()
        run_id = runs.add(session, tenant.id, period="2026-10", kind="push", trigger="bench", started_by="b", at=NOW)
        session.add_all(
            PlanItem(run_id=run_id, position=n, line_key=key(n), kind="create", customer=f"c{n}", payload=PAYLOAD)
            for n in range(creates)
        )
        tenant_id = tenant.id
    held = asyncio.run(acquire(ctx, tenant_id, seconds=600))
    landed = Addition.model_validate({"id": 1, "info": {"lastUpdated": "2026-11-02T00:00:00Z"}})
    started = time.process_time()
    for first in range(0, creates, GROUP):
        group = range(first, min(creates, first + GROUP))
        with db.session() as session:
            held.check(ctx, session)
            entries = [add_intent(session, ctx, held, run_id, n, key(n), "create", {"quantity": "3"}) for n in group]
        with db.session() as session:
            held.check(ctx, session)
            for n, entry in zip(group, entries, strict=True):
                addition = landed.model_copy(update={"id": 10_000 + n})
                result = {"outcome": "done", "addition_id": addition.id}
                add_result(
                    session, ctx, held, entry, result, addition=addition, line_key=key(n), agreement_id=5,
                    item_status="done", period="2026-10",
                )  # fmt: skip
    seconds = time.process_time() - started
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(LineIdentity)) == creates
        assert all(p["addition_id"] for p in session.scalars(select(PlanItem.payload)))
    db.dispose()
    return seconds


BASELINE_SCHEMA = """
CREATE TABLE journal (id INTEGER PRIMARY KEY, tenant_id INT, run_id INT, sequence INT, line_key TEXT,
  action TEXT, intent TEXT, fencing_token INT, intended_at TEXT, result TEXT, completed_at TEXT, addition_id INT);
CREATE TABLE plan_items (id INTEGER PRIMARY KEY, run_id INT, position INT, payload TEXT, status TEXT, error TEXT,
  UNIQUE (run_id, position));
CREATE TABLE line_identities (id INTEGER PRIMARY KEY, tenant_id INT, line_key TEXT, agreement_id INT,
  addition_id INT, adopted INT, last_written TEXT, last_period TEXT, UNIQUE (tenant_id, addition_id));
CREATE TABLE leases (tenant_id INTEGER PRIMARY KEY, holder TEXT, token INT, until TEXT);
"""


def baseline(creates: int, workdir: Path) -> float:
    db = sqlite3.connect(workdir / "baseline.db", isolation_level=None)
    db.executescript(BASELINE_SCHEMA)
    db.execute("INSERT INTO leases VALUES (1, 'bench', 1, ?)", (NOW.isoformat(),))
    db.executemany(
        "INSERT INTO plan_items (run_id, position, payload) VALUES (1, ?, ?)",
        [(n, json.dumps(PAYLOAD)) for n in range(creates)],
    )
    fence = "UPDATE leases SET until = ? WHERE tenant_id = 1 AND token = 1 AND holder = 'bench'"
    started = time.process_time()
    for first in range(0, creates, GROUP):
        group = range(first, min(creates, first + GROUP))
        db.execute("BEGIN")
        db.execute(fence, (NOW.isoformat(),))
        entries = [
            db.execute(
                "INSERT INTO journal (tenant_id, run_id, sequence, line_key, action, intent, fencing_token, "
                "intended_at) VALUES (1, 1, ?, ?, 'create', ?, 1, ?) RETURNING id",
                (n, key(n), json.dumps({"quantity": "3"}), NOW.isoformat()),
            ).fetchone()[0]
            for n in group
        ]
        db.execute("COMMIT")
        db.execute("BEGIN")
        db.execute(fence, (NOW.isoformat(),))
        for n, entry in zip(group, entries, strict=True):
            addition = 10_000 + n
            run_id, position = db.execute(
                "UPDATE journal SET result = ?, completed_at = ?, addition_id = ? WHERE id = ? "
                "RETURNING run_id, sequence",
                (json.dumps({"outcome": "done", "addition_id": addition}), NOW.isoformat(), addition, entry),
            ).fetchone()
            db.execute(
                "UPDATE plan_items SET status = 'done', error = NULL, payload = json_set(payload, '$.addition_id', ?) "
                "WHERE run_id = ? AND position = ?",
                (addition, run_id, position),
            )
            db.execute(
                "INSERT INTO line_identities (tenant_id, line_key, agreement_id, addition_id, adopted, last_written, "
                "last_period) VALUES (1, ?, 5, ?, 0, ?, '2026-10') ON CONFLICT (tenant_id, addition_id) DO UPDATE SET "
                "line_key = excluded.line_key, agreement_id = excluded.agreement_id, "
                "last_written = excluded.last_written, last_period = CASE WHEN excluded.last_period IS NOT NULL "
                "AND (last_period IS NULL OR excluded.last_period > last_period) THEN excluded.last_period "
                "ELSE last_period END",
                (key(n), addition, NOW.isoformat()),
            )
        db.execute("COMMIT")
    seconds = time.process_time() - started
    assert db.execute("SELECT count(*) FROM line_identities").fetchone()[0] == creates
    db.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--creates", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ours = meterbridge(args.creates, Path(tmp))
        floor = baseline(args.creates, Path(tmp))
    n = args.creates
    print(f"{n} landed creates, {GROUP} a commit, SQLite")
    print(f"baseline: plain sqlite3      CPU {floor:6.2f} s  {floor / n * 1000:6.3f} ms a landed create")
    print(f"meterbridge's journal        CPU {ours:6.2f} s  {ours / n * 1000:6.3f} ms a landed create")
    print(f"ratio meterbridge to baseline: {ours / floor:.1f}")


if __name__ == "__main__":
    main()
