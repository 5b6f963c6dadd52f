"""usage sample identity (source, customer, product, measured_at) and withdrawal; the last period
pushed onto each line

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from meterbridge.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

IDENTITY = ["tenant_id", "source", "customer_id", "product_id", "measured_at"]


def upgrade() -> None:
    # The same sample imported twice was stored twice; keep the newest of each identity.
    op.execute(
        """
        DELETE FROM usage_samples WHERE id NOT IN (
            SELECT max(id) FROM usage_samples
            GROUP BY tenant_id, source, customer_id, product_id, measured_at
        )
        """
    )
    with op.batch_alter_table("usage_samples") as batch:
        batch.add_column(sa.Column("withdrawn_at", UTCDateTime(), nullable=True))
        batch.create_unique_constraint("uq_usage_samples_identity", IDENTITY)
    with op.batch_alter_table("line_identities") as batch:
        batch.add_column(sa.Column("last_period", sa.String(7), nullable=True))
    # What each line was last pushed for, from the journal's successful writes.
    op.execute(
        """
        UPDATE line_identities SET last_period = (
            SELECT max(runs.period) FROM journal JOIN runs ON runs.id = journal.run_id
            WHERE journal.tenant_id = line_identities.tenant_id
              AND journal.line_key = line_identities.line_key
              AND journal.addition_id IS NOT NULL
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("line_identities") as batch:
        batch.drop_column("last_period")
    with op.batch_alter_table("usage_samples") as batch:
        batch.drop_constraint("uq_usage_samples_identity", type_="unique")
        batch.drop_column("withdrawn_at")
