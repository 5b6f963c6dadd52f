"""a line keeps every addition it had: line key -> additions over time (unique per addition only)

A running line ended (a switch of strategy, zero usage) and started again later has two
additions; the first one must stay owned, or a correction of a month it billed would create a
second addition for that month.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("line_identities") as batch:
        batch.drop_constraint("uq_line_identities_tenant_id_line_key", type_="unique")
        batch.create_index("ix_line_identities_tenant_id_line_key", ["tenant_id", "line_key"], unique=False)


def downgrade() -> None:
    # keep the newest addition of each line, as the unique key did
    op.execute(
        """
        DELETE FROM line_identities WHERE id NOT IN (
            SELECT max(id) FROM line_identities GROUP BY tenant_id, line_key
        )
        """
    )
    with op.batch_alter_table("line_identities") as batch:
        batch.drop_index("ix_line_identities_tenant_id_line_key")
        batch.create_unique_constraint("uq_line_identities_tenant_id_line_key", ["tenant_id", "line_key"])
