"""Migrations and models agree, on SQLite and PostgreSQL; exact types; sealed private keys."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import StatementError

from meterbridge.store.database import Database
from meterbridge.store.models import Base, Connection, Customer, Price, Product, Tenant, UsageSampleRow
from meterbridge.store.secrets import SecretBox, SecretKeyError

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_upgrade_creates_every_table_and_downgrade_removes_them(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    assert db.current_revision() is None
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    db.upgrade()  # a second upgrade is a no-op
    db.downgrade("base")
    assert set(inspect(db.engine).get_table_names()) & set(Base.metadata.tables) == set()
    db.dispose()


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def _tenant(session) -> Tenant:  # type: ignore[no-untyped-def]
    tenant = Tenant(key="msp", name="An MSP", time_zone="Europe/London", created_at=NOW)
    session.add(tenant)
    session.flush()
    return tenant


def test_decimals_and_datetimes_come_back_exactly(database: Database) -> None:
    values = [Decimal("0.1"), Decimal("1234.5678901234567890123456789"), Decimal("-0.005"), Decimal("1E+3")]
    moment = datetime(2026, 10, 31, 23, 30, tzinfo=timezone(timedelta(hours=-4)))
    with database.session() as session:
        tenant = _tenant(session)
        customer = Customer(tenant_id=tenant.id, external_id="c1", name="Acme")
        product = Product(tenant_id=tenant.id, key="gb", name="Storage", kind="storage", unit="GB", basis="last")
        session.add_all([customer, product])
        session.flush()
        for position, value in enumerate(values):
            session.add(
                UsageSampleRow(
                    tenant_id=tenant.id,
                    customer_id=customer.id,
                    product_id=product.id,
                    measured_at=moment,
                    quantity=value,
                    unit="GB",
                    received_at=NOW,
                    source=f"test {position}",  # one identity per sample: (source, customer, product, time)
                )
            )
    with database.session() as session:
        rows = session.scalars(select(UsageSampleRow).order_by(UsageSampleRow.id)).all()
        assert [row.quantity for row in rows] == values
        assert all(row.measured_at == moment for row in rows)
        assert rows[0].measured_at.tzinfo is not None


def _store_float_price(database: Database) -> None:
    with database.session() as session:
        tenant = _tenant(session)
        product = Product(tenant_id=tenant.id, key="gb", name="Storage", kind="storage", unit="GB", basis="last")
        session.add(product)
        session.flush()
        session.add(Price(tenant_id=tenant.id, product_id=product.id, unit_price=0.12, unit_cost=Decimal(0)))


def _store_naive_datetime(database: Database) -> None:
    with database.session() as session:
        session.add(Tenant(key="naive", name="x", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001


def test_floats_and_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="decimal columns take Decimal"):
        _store_float_price(database)
    with pytest.raises(StatementError, match="timezone-aware"):
        _store_naive_datetime(database)
    with database.session() as session:
        assert session.scalars(select(Tenant)).all() == []  # nothing half-stored


def test_private_keys_are_sealed_at_rest(database: Database, tmp_path: Path) -> None:
    box = SecretBox.from_key_file(tmp_path / "keys" / "meterbridge.key")
    assert stat.S_IMODE((tmp_path / "keys" / "meterbridge.key").stat().st_mode) == 0o600
    with database.session() as session:
        tenant = _tenant(session)
        session.add(
            Connection(
                tenant_id=tenant.id,
                site="na.myconnectwise.net",
                company_id="msp",
                public_key="pub",
                private_key_sealed=box.seal("very-secret-private"),
                client_id="id",
                api_version="2026.4",
            )
        )
    with database.engine.connect() as connection:
        raw = connection.execute(text("select private_key_sealed from connections")).scalar_one()
    assert "very-secret-private" not in raw
    assert box.open(raw) == "very-secret-private"
    again = SecretBox.from_key_file(tmp_path / "keys" / "meterbridge.key")  # the same key is read back
    assert again.open(raw) == "very-secret-private"
    other = SecretBox.from_key_file(tmp_path / "other.key")
    with pytest.raises(SecretKeyError, match="sealed with another one"):
        other.open(raw)
    assert "very" not in repr(box)


def test_an_exposed_key_file_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "open.key"
    SecretBox.from_key_file(key_file)
    os.chmod(key_file, 0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        SecretBox.from_key_file(key_file)
    with pytest.raises(SecretKeyError, match="no encryption key file"):
        SecretBox.from_key_file(tmp_path / "missing.key", create=False)
    with pytest.raises(SecretKeyError, match="not a Fernet key"):
        SecretBox(b"short")
