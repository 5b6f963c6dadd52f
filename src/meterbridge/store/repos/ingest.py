"""Bulk usage in: rows staged in a temporary table, checked for repeats, then merged into
``usage_samples`` by identity in a few set statements (new rows inserted, changed rows updated,
the same rows left alone), so an import of a million rows holds none of them in memory.

The staging table lives in the session's connection (``TEMPORARY``); ``Staging`` creates it,
takes rows in batches (``executemany`` on SQLite, ``COPY`` on PostgreSQL) and drops it.
Values are rendered once by the real column types (``UTCDateTime``), so a staged time compares
equal to the stored one; quantities are canonical text (``canonical_quantity``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, bindparam, insert, text
from sqlalchemy.orm import Session

from meterbridge.store.models import Customer, CustomerRename
from meterbridge.store.types import UTCDateTime

_staging = Table(
    "usage_staging",
    MetaData(),
    Column("row_no", Integer, nullable=False),
    Column("customer", String(200), nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("measured_at", UTCDateTime(), nullable=False),
    Column("quantity", String(64), nullable=False),
    Column("unit", String(10), nullable=False),
    prefixes=["TEMPORARY"],
)
_COPY = "COPY usage_staging (row_no, customer, product_id, measured_at, quantity, unit) FROM STDIN"
_INSERT = (
    "INSERT INTO usage_staging (row_no, customer, product_id, measured_at, quantity, unit) VALUES (?, ?, ?, ?, ?, ?)"
)

#: Rows from which a merge on PostgreSQL refreshes the statistics of the tables it joins.
LARGE = 100

#: One staged row: row number, customer external id, product id, measured_at (as rendered by
#: ``Staging.moment``), quantity (canonical text), unit.
Staged = tuple[int, str, int, Any, str, str]


def _same(value: Any) -> Any:
    return value


class Staging:
    def __init__(self, session: Session) -> None:
        self._connection: Connection = session.connection()
        self.dialect = self._connection.dialect.name
        dialect = self._connection.dialect
        processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        self._render: Callable[[Any], Any] = processor if processor is not None else _same
        _staging.drop(self._connection, checkfirst=True)
        _staging.create(self._connection)

    def moment(self, value: datetime) -> Any:
        """An aware time as the database stores it (SQLite: text in UTC; PostgreSQL: the time)."""
        return self._render(value)

    def add(self, rows: Sequence[Staged]) -> None:
        if not rows:
            return
        raw = self._connection.connection.driver_connection
        assert raw is not None
        if self.dialect == "postgresql":
            with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor = raw.cursor()
            try:
                cursor.executemany(_INSERT, rows)
            finally:
                cursor.close()

    def index(self) -> None:
        self._connection.exec_driver_sql(
            "CREATE INDEX ix_usage_staging_identity ON usage_staging (customer, product_id, measured_at, row_no)"
        )
        if self.dialect == "postgresql":
            self._connection.exec_driver_sql("ANALYZE usage_staging")

    def repeats(self) -> Iterator[tuple[int, int, str, str, str, str]]:
        """Rows whose identity an earlier row has: (row, first row, quantity, unit, first's quantity, first's unit)."""
        result = self._connection.exec_driver_sql(
            "SELECT s.row_no, f.row_no, s.quantity, s.unit, f.quantity, f.unit FROM usage_staging s "
            "JOIN (SELECT customer, product_id, measured_at, MIN(row_no) AS first_row FROM usage_staging "
            "GROUP BY customer, product_id, measured_at HAVING COUNT(*) > 1) g "
            "ON g.customer = s.customer AND g.product_id = s.product_id AND g.measured_at = s.measured_at "
            "JOIN usage_staging f ON f.row_no = g.first_row "
            "WHERE s.row_no <> g.first_row ORDER BY s.row_no"
        )
        for row in result:
            yield row[0], row[1], row[2], row[3], row[4], row[5]

    def drop_rows(self, rows: Sequence[int]) -> None:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            self._connection.execute(
                text("DELETE FROM usage_staging WHERE row_no IN :rows").bindparams(bindparam("rows", expanding=True)),
                {"rows": list(chunk)},
            )

    def changed_between(self, tenant_id: int, source: str, start: datetime, end: datetime) -> int:
        """How many staged rows measured in ``[start, end)`` would add or change a sample."""
        value = self._connection.execute(
            text(
                "SELECT COUNT(*) FROM usage_staging s JOIN customers c ON c.tenant_id = :tenant "
                "AND c.external_id = s.customer WHERE s.measured_at >= :start AND s.measured_at < :end "
                "AND NOT EXISTS (SELECT 1 FROM usage_samples u WHERE u.tenant_id = :tenant AND u.source = :source "
                "AND u.customer_id = c.id AND u.product_id = s.product_id AND u.measured_at = s.measured_at "
                "AND u.quantity = s.quantity AND u.unit = s.unit AND u.withdrawn_at IS NULL)"
            ).bindparams(
                bindparam("start", type_=UTCDateTime()),
                bindparam("end", type_=UTCDateTime()),
                bindparam("source", type_=String(200)),
            ),
            {"tenant": tenant_id, "source": source, "start": start, "end": end},
        ).scalar_one()
        return int(value)

    def merge(self, tenant_id: int, source: str, now: datetime, *, staged: int) -> tuple[int, int]:
        """Store the staged rows as samples of ``source``: (added, replaced). A row equal to its
        stored sample changes nothing (not even when it was received)."""
        large = self.dialect == "postgresql" and staged >= LARGE
        if large:
            # customers just added in this transaction, or samples committed a moment ago, look
            # empty to the planner, whose nested loops over them then take minutes: a bulk merge
            # joins by hash (and the statistics are brought up to date)
            self._connection.exec_driver_sql("ANALYZE usage_samples")
            self._connection.exec_driver_sql("SET LOCAL enable_nestloop = off")
        merged = self._merge(tenant_id, source, now)  # (a failure aborts the transaction, and the SET with it)
        if large:
            self._connection.exec_driver_sql("SET LOCAL enable_nestloop = DEFAULT")
            # and after: a small import right after this one must not plan on the old statistics
            # (1,000 rows after a million: 88 s before, 0.15 s after)
            self._connection.exec_driver_sql("ANALYZE usage_samples")
        return merged

    def _merge(self, tenant_id: int, source: str, now: datetime) -> tuple[int, int]:
        params = {"tenant": tenant_id, "source": source, "now": now}
        now_type = bindparam("now", type_=UTCDateTime())
        source_type = bindparam("source", type_=String(200))
        replaced = self._connection.execute(
            text(
                "UPDATE usage_samples SET quantity = x.quantity, unit = x.unit, received_at = :now, "
                "withdrawn_at = NULL FROM (SELECT c.id AS customer_id, s.product_id, s.measured_at, s.quantity, "
                "s.unit FROM usage_staging s JOIN customers c ON c.tenant_id = :tenant AND c.external_id = s.customer"
                ") AS x WHERE usage_samples.tenant_id = :tenant AND usage_samples.source = :source "
                "AND usage_samples.customer_id = x.customer_id AND usage_samples.product_id = x.product_id "
                "AND usage_samples.measured_at = x.measured_at AND (usage_samples.quantity <> x.quantity "
                "OR usage_samples.unit <> x.unit OR usage_samples.withdrawn_at IS NOT NULL)"
            ).bindparams(now_type, source_type),
            params,
        ).rowcount
        added = self._connection.execute(
            text(
                "INSERT INTO usage_samples (tenant_id, customer_id, product_id, measured_at, quantity, unit, "
                "received_at, source) SELECT :tenant, c.id, s.product_id, s.measured_at, s.quantity, s.unit, :now, "
                ":source FROM usage_staging s JOIN customers c ON c.tenant_id = :tenant AND c.external_id = s.customer "
                "WHERE NOT EXISTS (SELECT 1 FROM usage_samples u WHERE u.tenant_id = :tenant AND u.source = :source "
                "AND u.customer_id = c.id AND u.product_id = s.product_id AND u.measured_at = s.measured_at)"
            ).bindparams(now_type, source_type),
            params,
        ).rowcount
        return added, replaced

    def close(self) -> None:
        _staging.drop(self._connection, checkfirst=True)


def lock_tenant(session: Session, tenant_id: int) -> None:
    """Imports of one tenant take turns (two adding the same new customer or sample would collide):
    a transaction-scoped advisory lock on PostgreSQL; SQLite has one writer at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7301, :tenant)"), {"tenant": tenant_id})


def customer_names(session: Session, tenant_id: int) -> dict[str, tuple[str, str | None, bool]]:
    """external id -> (name, source that created it, whether it is flagged missing), without ORM objects."""
    rows = session.execute(
        text("SELECT external_id, name, source, missing_since FROM customers WHERE tenant_id = :tenant"),
        {"tenant": tenant_id},
    )
    return {row[0]: (row[1], row[2], row[3] is not None) for row in rows}


def add_customers(session: Session, tenant_id: int, names: dict[str, str], source: str) -> None:
    if names:
        session.execute(
            insert(Customer),
            [
                {"tenant_id": tenant_id, "external_id": key, "name": name, "push_enabled": True, "source": source}
                for key, name in names.items()
            ],
        )


def rename_customers(
    session: Session, tenant_id: int, renames: dict[str, tuple[str, str]], source: str, now: datetime
) -> None:
    """external id -> (old name, new name): the name changes and the change is kept."""
    for key, (old, new) in renames.items():
        customer = session.query(Customer).filter_by(tenant_id=tenant_id, external_id=key).one()
        customer.name = new
        session.add(
            CustomerRename(
                tenant_id=tenant_id, customer_id=customer.id, old_name=old, new_name=new, source=source, at=now
            )
        )


def flag_missing(session: Session, tenant_id: int, source: str, seen: set[str], now: datetime) -> list[str]:
    """Customers ``source`` created that it no longer lists are flagged (from now); ones it lists
    again are cleared. The external ids newly flagged."""
    flagged = []
    for customer in session.query(Customer).filter_by(tenant_id=tenant_id, source=source):
        if customer.external_id in seen:
            customer.missing_since = None
        elif customer.missing_since is None:
            customer.missing_since = now
            flagged.append(customer.external_id)
    return sorted(flagged)
