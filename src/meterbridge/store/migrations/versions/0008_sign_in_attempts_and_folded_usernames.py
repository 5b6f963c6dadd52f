"""sign-in attempts counted in the database; usernames case-folded

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00

Usernames are stored lower-case from now on (sign-in and every look-up fold what is typed).
Existing names are folded here. Two existing users whose names differ only in case cannot both
keep their name: the oldest of them (the lowest id, the one that existed first) gets the folded
name; each younger one is disabled, its sessions end, and it is renamed ``<its name>#<id>`` (a
``#`` no new username may hold, so the name is never reached by a sign-in or taken again). Its
memberships stay, for an admin to see and remove. Nothing fails, nothing is deleted, and each
such user is written to the audit log (action ``user.disabled``, no tenant) and to the log.
Downgrading drops the attempts table; the names stay folded.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from meterbridge.store.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sign_in_attempts_account_at", "sign_in_attempts", ["account", "at"])
    op.create_index("ix_sign_in_attempts_address_at", "sign_in_attempts", ["address", "at"])
    op.create_index("ix_sign_in_attempts_at", "sign_in_attempts", ["at"])
    _fold_usernames()


def _fold_usernames() -> None:
    connection = op.get_bind()
    users = sa.table(
        "users", sa.column("id", sa.Integer()), sa.column("username", sa.String()), sa.column("disabled", sa.Boolean())
    )
    sessions = sa.table("web_sessions", sa.column("user_id", sa.Integer()))
    audit = sa.table(
        "audit_log",
        sa.column("tenant_id", sa.Integer()),
        sa.column("at", UTCDateTime()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("detail", sa.JSON()),
    )
    groups: dict[str, list[tuple[int, str]]] = {}
    for user_id, name in connection.execute(sa.select(users.c.id, users.c.username).order_by(users.c.id)):
        groups.setdefault(name.casefold(), []).append((user_id, name))
    younger = [(folded, user_id, name) for folded, group in groups.items() for user_id, name in group[1:]]
    for folded, user_id, name in younger:  # first, so the oldest's new name is free
        renamed = f"{name[: 99 - len(str(user_id))]}#{user_id}"
        connection.execute(users.update().where(users.c.id == user_id).values(username=renamed, disabled=True))
        connection.execute(sessions.delete().where(sessions.c.user_id == user_id))
        kept = groups[folded][0]
        connection.execute(
            audit.insert().values(
                tenant_id=None,
                at=datetime.now(UTC),
                actor="meterbridge:migration 0008",
                action="user.disabled",
                detail={
                    "before": {"username": name, "disabled": False},
                    "after": {"username": renamed, "disabled": True, "why": f"{kept[1]} (older) now holds {folded}"},
                },
            )
        )
        log.warning("user %r differs from the older %r only in case: disabled and renamed %r", name, kept[1], renamed)
    for folded, group in groups.items():
        oldest_id, name = group[0]
        if name != folded:
            connection.execute(users.update().where(users.c.id == oldest_id).values(username=folded))


def downgrade() -> None:
    op.drop_table("sign_in_attempts")
