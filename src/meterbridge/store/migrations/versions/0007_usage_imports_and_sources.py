"""usage imports (with the rows they refused), pull sources, customers' source and renames

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from meterbridge.store.types import UTCDateTime, canonical_quantity

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _tenant() -> sa.Column[int]:
    return sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("source", sa.String(200), nullable=True))
        batch.add_column(sa.Column("missing_since", UTCDateTime(), nullable=True))
    op.create_table(
        "customer_renames",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant(),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("old_name", sa.String(200), nullable=False),
        sa.Column("new_name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_customer_renames_tenant_id", "customer_renames", ["tenant_id"])
    op.create_index("ix_customer_renames_customer_id", "customer_renames", ["customer_id"])
    op.create_table(
        "usage_sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("auth_header", sa.String(100), nullable=True),
        sa.Column("auth_sealed", sa.Text(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("every", sa.String(10), nullable=False),
        sa.Column("at_minute", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_slot", UTCDateTime(), nullable=True),
        sa.Column("last_import_id", sa.Integer(), nullable=True),
        sa.Column("last_status", sa.String(20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_usage_sources_tenant_id_name"),
    )
    op.create_index("ix_usage_sources_tenant_id", "usage_sources", ["tenant_id"])
    op.create_table(
        "usage_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant(),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("usage_sources.id", ondelete="SET NULL"), nullable=True),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("name", sa.String(1000), nullable=True),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
    )
    op.create_index("ix_usage_imports_tenant_id", "usage_imports", ["tenant_id"])
    op.create_index("ix_usage_imports_source_id", "usage_imports", ["source_id"])
    op.create_table(
        "usage_import_errors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("import_id", sa.Integer(), sa.ForeignKey("usage_imports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("row", sa.Integer(), nullable=True),
        sa.Column("column", sa.String(100), nullable=True),
        sa.Column("value", sa.String(200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index("ix_usage_import_errors_import_id", "usage_import_errors", ["import_id"])
    _canonical_quantities()


def _canonical_quantities() -> None:
    """Quantities as their shortest exact text (1.50 -> 1.5), as every import now stores them, so an
    import compares a sample's value as text in the database (the same value is unchanged)."""
    connection = op.get_bind()
    samples = sa.table("usage_samples", sa.column("id", sa.Integer()), sa.column("quantity", sa.String()))
    last = 0
    while True:  # 10,000 samples at a time, by id: memory stays flat on a large table
        rows = connection.execute(
            sa.select(samples.c.id, samples.c.quantity).where(samples.c.id > last).order_by(samples.c.id).limit(10_000)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        changed = [
            {"key": sample_id, "value": canonical_quantity(Decimal(text))}
            for sample_id, text in rows
            if canonical_quantity(Decimal(text)) != text
        ]
        if changed:
            connection.execute(
                samples.update().where(samples.c.id == sa.bindparam("key")).values(quantity=sa.bindparam("value")),
                changed,
            )


def downgrade() -> None:
    op.drop_table("usage_import_errors")
    op.drop_table("usage_imports")
    op.drop_table("usage_sources")
    op.drop_table("customer_renames")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("missing_since")
        batch.drop_column("source")
