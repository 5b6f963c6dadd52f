"""What a push records of every landed write, each in one statement, on SQLite and PostgreSQL.

An addition's identity: inserted the first time; after that its line, agreement and last write
follow the latest write, whether it was adopted stays as it was, and the period it holds only
moves forward. A plan item's outcome: its status, and for a create that landed the addition id
set in its payload by the database (the rest of the payload as stored)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from meterbridge.store.database import Database
from meterbridge.store.models import LineIdentity, PlanItem, Tenant
from meterbridge.store.repos import journal, runs

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _remember(db: Database, tenant_id: int, **changed: object) -> None:
    values: dict[str, object] = {
        "line_key": "c1/storage/BACKUP-GB/running",
        "agreement_id": 7,
        "addition_id": 501,
        "last_written": NOW,
        "adopted": False,
        "period": "2026-10",
        **changed,
    }
    with db.session() as session:
        journal.remember(session, tenant_id, **values)  # type: ignore[arg-type]


def _rows(db: Database) -> list[tuple[object, ...]]:
    with db.session() as session:
        rows = session.execute(
            select(
                LineIdentity.tenant_id,
                LineIdentity.addition_id,
                LineIdentity.line_key,
                LineIdentity.agreement_id,
                LineIdentity.adopted,
                LineIdentity.last_written,
                LineIdentity.last_period,
            ).order_by(LineIdentity.tenant_id, LineIdentity.addition_id)
        )
        return [tuple(row) for row in rows]


def test_an_identity_is_inserted_then_kept_up_to_date_with_its_period_moving_forward_only(database: Database) -> None:
    with database.session() as session:
        tenants = [Tenant(key=key, name=key, time_zone="UTC", created_at=NOW) for key in ("msp", "other")]
        session.add_all(tenants)
        session.flush()
        msp, other = (t.id for t in tenants)

    _remember(database, msp, adopted=True)
    assert _rows(database) == [(msp, 501, "c1/storage/BACKUP-GB/running", 7, True, NOW, "2026-10")]

    # a later write of the same addition: moved to another line and agreement, a later period
    _remember(
        database, msp, line_key="c1/storage/BACKUP-GB/2026-11", agreement_id=8, last_written=LATER, period="2026-11"
    )
    assert _rows(database) == [(msp, 501, "c1/storage/BACKUP-GB/2026-11", 8, True, LATER, "2026-11")]

    # an earlier period, or none (a cancel), never moves it back
    _remember(database, msp, period="2026-09")
    _remember(database, msp, period=None)
    assert _rows(database)[0][6] == "2026-11"
    assert _rows(database)[0][5] == NOW  # the last write is the latest remembered, as ConnectWise said

    # the same addition id under another tenant is another identity; an identity without a period keeps none
    _remember(database, other, addition_id=501, period=None)
    _remember(database, msp, addition_id=502, period=None)
    _remember(database, msp, addition_id=502, period="2026-10")
    assert [(r[0], r[1], r[4], r[6]) for r in _rows(database)] == [
        (msp, 501, True, "2026-11"),
        (msp, 502, False, "2026-10"),
        (other, 501, False, None),
    ]


def test_a_landed_create_sets_its_addition_id_in_the_stored_payload_and_nothing_else(database: Database) -> None:
    payload = {
        "kind": "create",
        "key": "c1/storage/BACKUP-GB/running",
        "values": {"quantity": "12.50", "unitPrice": "0.0800", "product": "BACKUP-GB"},
        # a text ConnectWise sent may hold anything JSON does, a NUL among it (PostgreSQL's jsonb refuses one)
        "explanation": [
            {"step": "usage", "detail": "Cloud storage: 12.5 GB \u0000", "value": "12.5", "warning": False}
        ],
        "addition_id": None,
    }
    with database.session() as session:
        tenant = Tenant(key="msp", name="msp", time_zone="UTC", created_at=NOW)
        session.add(tenant)
        session.flush()
        run_id = runs.add(session, tenant.id, period="2026-10", kind="push", trigger="manual", started_by="t", at=NOW)
        session.add_all(
            PlanItem(run_id=run_id, position=n, line_key=f"c{n}", kind="create", customer=f"c{n}", payload=payload)
            for n in range(3)
        )
    with database.session() as session:
        runs.mark_item(session, run_id, 0, "done", None, 91_000_123)
        runs.mark_item(session, run_id, 1, "failed", "ConnectWise said no")
    with database.session() as session:
        items = session.execute(
            select(PlanItem.position, PlanItem.status, PlanItem.error, PlanItem.payload)
            .where(PlanItem.run_id == run_id)
            .order_by(PlanItem.position)
        ).all()
    assert [tuple(item) for item in items] == [
        (0, "done", None, {**payload, "addition_id": 91_000_123}),
        (1, "failed", "ConnectWise said no", payload),
        (2, None, None, payload),
    ]
    assert isinstance(items[0].payload["addition_id"], int)
    assert list(items[0].payload) == list(payload) and list(items[0].payload["values"]) == list(payload["values"])
